//! Limited-memory BFGS with a backtracking (Armijo) line search, for smooth convex objectives.

/// Stopping rules of [`minimize`].
pub(crate) struct Settings {
    pub max_iterations: usize,
    /// Stop once the largest gradient component is at most this.
    pub gradient_tolerance: f64,
    /// History length.
    pub memory: usize,
}

/// Minimises `f` (which writes the gradient into its second argument and returns the
/// value) from `x`, calling `on_iteration(iteration, x, value)` after every accepted step.
/// Returns the number of iterations taken.
pub(crate) fn minimize(
    x: &mut [f64],
    settings: &Settings,
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
    mut on_iteration: impl FnMut(usize, &[f64], f64),
) -> usize {
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut fx = f(x, &mut g);
    let mut history: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::new(); // (s, y, 1 / s·y)
    let (mut x_new, mut g_new, mut d) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    for iteration in 1..=settings.max_iterations {
        if max_abs(&g) <= settings.gradient_tolerance {
            return iteration - 1;
        }
        direction(&g, &history, &mut d);
        let mut slope = dot(&d, &g);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            history.clear();
            direction(&g, &history, &mut d);
            slope = dot(&d, &g);
        }
        let mut step = if history.is_empty() { (1.0 / norm(&g)).min(1.0) } else { 1.0 };
        let mut accepted = None;
        for _ in 0..50 {
            for i in 0..n {
                x_new[i] = x[i] + step * d[i];
            }
            let f_new = f(&x_new, &mut g_new);
            if f_new.is_finite() && f_new <= fx + 1e-4 * step * slope {
                accepted = Some(f_new);
                break;
            }
            step *= 0.5;
        }
        let Some(f_new) = accepted else { return iteration - 1 };
        let s: Vec<f64> = x_new.iter().zip(x.iter()).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&y, &y).max(1e-300) {
            if history.len() == settings.memory {
                history.remove(0);
            }
            history.push((s, y, 1.0 / sy));
        }
        let improvement = (fx - f_new) / fx.abs().max(1.0);
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        fx = f_new;
        on_iteration(iteration, x, fx);
        if improvement < 1e-14 {
            return iteration;
        }
    }
    settings.max_iterations
}

/// `d = -H g` by the two-loop recursion, with `H0 = (s·y / y·y) I` from the newest pair.
fn direction(g: &[f64], history: &[(Vec<f64>, Vec<f64>, f64)], d: &mut [f64]) {
    d.iter_mut().zip(g).for_each(|(d, g)| *d = -g);
    let mut alphas = vec![0.0; history.len()];
    for (i, (s, y, rho)) in history.iter().enumerate().rev() {
        alphas[i] = rho * dot(s, d);
        d.iter_mut().zip(y).for_each(|(d, y)| *d -= alphas[i] * y);
    }
    if let Some((_, y, rho)) = history.last() {
        let gamma = 1.0 / (rho * dot(y, y));
        d.iter_mut().for_each(|d| *d *= gamma);
    }
    for (i, (s, y, rho)) in history.iter().enumerate() {
        let beta = rho * dot(y, d);
        d.iter_mut().zip(s).for_each(|(d, s)| *d += (alphas[i] - beta) * s);
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt().max(1e-300)
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimizes_an_ill_conditioned_quadratic_and_rosenbrock() {
        let settings = Settings { max_iterations: 200, gradient_tolerance: 1e-9, memory: 10 };
        let mut x = vec![5.0, -3.0];
        minimize(
            &mut x,
            &settings,
            |x, g| {
                g[0] = 2.0 * (x[0] - 1.0);
                g[1] = 2000.0 * (x[1] + 2.0);
                (x[0] - 1.0).powi(2) + 1000.0 * (x[1] + 2.0).powi(2)
            },
            |_, _, _| {},
        );
        assert!((x[0] - 1.0).abs() < 1e-6 && (x[1] + 2.0).abs() < 1e-6, "{x:?}");

        let mut x = vec![-1.2, 1.0];
        let mut calls = 0;
        minimize(
            &mut x,
            &settings,
            |x, g| {
                g[0] = -2.0 * (1.0 - x[0]) - 400.0 * x[0] * (x[1] - x[0] * x[0]);
                g[1] = 200.0 * (x[1] - x[0] * x[0]);
                (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2)
            },
            |_, _, _| calls += 1,
        );
        assert!((x[0] - 1.0).abs() < 1e-4 && (x[1] - 1.0).abs() < 1e-4, "{x:?}");
        assert!(calls > 5);
    }
}
