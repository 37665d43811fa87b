//! The reference evaluator: flattens the whole event and searches, by plain
//! backtracking over the pattern tree, for one choice of event leaves that satisfies
//! every condition of some `$or` alternative. Slow and deliberately simple; it is the
//! oracle the compiled [`super::Matcher`] is tested against, and it shares nothing
//! with it except the operator predicates of [`super::value`].

use serde_json::Value;

use super::parse::{Field, Node};
use super::value::{Leaf, Op};

/// `(array id, element index)` of every array element, holding an object or an
/// array, that a leaf sits inside — outermost first.
type Trail = Vec<(usize, usize)>;

struct FlatLeaf<'a> {
    path: Vec<&'a str>,
    leaf: Leaf<'a>,
    trail: Trail,
}

/// Whether `event` matches the pattern rooted at `root`.
pub(crate) fn matches(root: &Node, event: &Value) -> bool {
    let mut leaves = Vec::new();
    let mut next_array = 0;
    flatten(event, &mut Vec::new(), &mut Vec::new(), &mut next_array, &mut leaves);
    let goals = vec![Goal::Object(root, Vec::new())];
    solve(goals, &leaves, &mut Vec::new())
}

fn flatten<'a>(
    value: &'a Value,
    path: &mut Vec<&'a str>,
    trail: &mut Trail,
    next_array: &mut usize,
    out: &mut Vec<FlatLeaf<'a>>,
) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(key);
                flatten(child, path, trail, next_array, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            let id = *next_array;
            *next_array += 1;
            for (i, item) in items.iter().enumerate() {
                let container = item.is_object() || item.is_array();
                if container {
                    trail.push((id, i));
                }
                flatten(item, path, trail, next_array, out);
                if container {
                    trail.pop();
                }
            }
        }
        scalar => {
            if let Some(leaf) = Leaf::from_json(scalar) {
                out.push(FlatLeaf { path: path.clone(), leaf, trail: trail.clone() });
            }
        }
    }
}

/// What is still to be satisfied.
#[derive(Clone)]
enum Goal<'p> {
    /// A pattern object at the given key path.
    Object(&'p Node, Vec<String>),
    /// A leaf condition at the given key path.
    Values(&'p [Op], Vec<String>),
}

/// Two trails are consistent when every array they both go through is entered at
/// the same element.
fn consistent(a: &Trail, b: &Trail) -> bool {
    a.iter().all(|(arr, i)| b.iter().all(|(arr2, j)| arr != arr2 || i == j))
}

fn solve<'p, 'a>(mut goals: Vec<Goal<'p>>, leaves: &'a [FlatLeaf<'a>], chosen: &mut Vec<&'a Trail>) -> bool {
    let Some(goal) = goals.pop() else {
        return true;
    };
    match goal {
        Goal::Object(node, prefix) => {
            for (key, field) in &node.fields {
                let mut path = prefix.clone();
                path.push(key.clone());
                goals.push(match field {
                    Field::Object(inner) => Goal::Object(inner, path),
                    Field::Values(ops) => Goal::Values(ops, path),
                });
            }
            if node.alternatives.is_empty() {
                return solve(goals, leaves, chosen);
            }
            node.alternatives.iter().any(|alt| {
                let mut with_alt = goals.clone();
                with_alt.push(Goal::Object(alt, prefix.clone()));
                solve(with_alt, leaves, chosen)
            })
        }
        Goal::Values(ops, path) => {
            let at_path: Vec<&'a FlatLeaf<'a>> = leaves.iter().filter(|l| l.path.iter().eq(path.iter())).collect();
            if at_path.is_empty() {
                // `exists: false` is judged over the whole event, not per array element.
                return ops.contains(&Op::Exists(false)) && solve(goals, leaves, chosen);
            }
            for leaf in at_path {
                let usable =
                    ops.iter().any(|op| op.matches(&leaf.leaf)) && chosen.iter().all(|t| consistent(t, &leaf.trail));
                if usable {
                    chosen.push(&leaf.trail);
                    if solve(goals.clone(), leaves, chosen) {
                        return true;
                    }
                    chosen.pop();
                }
            }
            false
        }
    }
}
