//! Live pages: one server-sent-event stream per page, carrying named HTML fragments that
//! htmx's SSE extension swaps in place (`sse-swap="NAME"`). A stream renders its page's
//! fragments, sends those that changed, then waits for the bus's next commit or a tick
//! (short while something on the page is in progress, long otherwise), and renders again.
//! A reconnect renders everything afresh, so nothing is missed. Streams of the same page
//! share one render per moment ([`Shared`]): a hundred tabs on the loop overview cost one
//! render per bus commit, not a hundred.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::watch;

use crate::UiError;

/// How soon a page with something in progress looks again without a bus commit.
const BUSY_TICK: Duration = Duration::from_millis(200);
/// How soon a quiet page looks again without a bus commit.
const QUIET_TICK: Duration = Duration::from_secs(5);

/// A stream ends after this long; the browser reconnects at once, which authenticates the
/// session again (so a deactivated key's open pages stop within this time).
const LONGEST_STREAM: Duration = Duration::from_secs(300);

/// How long a page's render is reused by the other streams of the same page.
const FRESH: Duration = Duration::from_millis(100);

/// Renders shared by the streams of one page (by key), each reused for [`FRESH`].
#[derive(Clone, Default)]
pub struct Shared(Arc<Mutex<HashMap<String, Slot>>>);

/// A page's last render: the bus generation it saw, when, and what it showed.
type Slot = Arc<tokio::sync::Mutex<Option<(u64, Instant, Arc<Frame>)>>>;

impl Shared {
    /// The page's frame: the last render if it saw the same bus commits (`generation`) and
    /// is younger than [`FRESH`], else a new one.
    async fn render<F, Fut>(&self, key: &str, generation: u64, render: &mut F) -> Result<Arc<Frame>, UiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Frame, UiError>>,
    {
        let slot = {
            let mut slots = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if slots.len() > 1000 {
                slots.retain(|_, slot| Arc::strong_count(slot) > 1);
            }
            slots.entry(key.to_string()).or_default().clone()
        };
        // Invariant: one render per key at a time; the streams that waited take its result.
        let mut last = slot.lock().await;
        if let Some((seen, at, frame)) = last.as_ref() {
            // A render that saw this commit or a later one is as new as one made now.
            if *seen >= generation && at.elapsed() < FRESH {
                return Ok(frame.clone());
            }
        }
        let frame = Arc::new(render().await?);
        *last = Some((generation, Instant::now(), frame.clone()));
        Ok(frame)
    }
}

/// One named fragment of a page.
pub struct Fragment {
    pub event: &'static str,
    pub html: String,
    /// Appended to what is shown (a log's new lines): sent whenever it is not empty.
    pub append: bool,
    /// The event's id: where a reconnect resumes (the browser sends it as `Last-Event-ID`).
    pub id: Option<String>,
}

impl Fragment {
    pub fn replace(event: &'static str, html: String) -> Fragment {
        Fragment { event, html, append: false, id: None }
    }
}

/// What a page shows now, and whether anything on it is still moving.
pub struct Frame {
    pub fragments: Vec<Fragment>,
    pub busy: bool,
}

struct State<F> {
    render: F,
    stopping: watch::Receiver<bool>,
    ends: Instant,
    shared: Option<(Shared, String)>,
    activity: watch::Receiver<u64>,
    sent: HashMap<&'static str, u64>,
    queue: std::collections::VecDeque<Event>,
    first: bool,
    busy: bool,
}

/// The event stream of a live page: `render` is called at once and after every change;
/// with `shared`, its render is shared with the other streams of that key (it must then
/// not depend on the stream: no appended fragments).
pub fn stream<F, Fut>(
    ui: &crate::Ui,
    shared: Option<String>,
    render: F,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Frame, UiError>> + Send,
{
    let state = State {
        render,
        stopping: ui.stopping.clone(),
        ends: Instant::now() + LONGEST_STREAM,
        shared: shared.map(|key| (ui.renders.clone(), key)),
        activity: ui.app.bus.activity(),
        sent: HashMap::new(),
        queue: Default::default(),
        first: true,
        busy: true,
    };
    let events = futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(event) = state.queue.pop_front() {
                return Some((Ok(event), state));
            }
            if !state.first {
                let tick = if state.busy { BUSY_TICK } else { QUIET_TICK };
                tokio::select! {
                    () = wait(&mut state.activity, tick) => {}
                    _ = state.stopping.wait_for(|stopping| *stopping) => return None,
                }
                if *state.stopping.borrow() || Instant::now() >= state.ends {
                    return None;
                }
            }
            state.first = false;
            let generation = *state.activity.borrow_and_update();
            let frame = match &state.shared {
                Some((shared, key)) => shared.render(key, generation, &mut state.render).await,
                None => (state.render)().await.map(Arc::new),
            };
            match frame {
                Ok(frame) => {
                    state.busy = frame.busy;
                    for fragment in &frame.fragments {
                        if changed(&mut state.sent, fragment) {
                            let event = Event::default().event(fragment.event).data(fragment.html.as_str());
                            state.queue.push_back(match &fragment.id {
                                Some(id) => event.id(id),
                                None => event,
                            });
                        }
                    }
                }
                // The page's object is gone or no longer visible to the caller: end the
                // stream (the browser's next reconnect renders the page's answer).
                Err(e) => {
                    tracing::debug!(error = %e, "live page stream ends");
                    return None;
                }
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn changed(sent: &mut HashMap<&'static str, u64>, fragment: &Fragment) -> bool {
    if fragment.append {
        return !fragment.html.is_empty();
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    fragment.html.hash(&mut hasher);
    let hash = hasher.finish();
    sent.insert(fragment.event, hash) != Some(hash)
}

/// Until the bus commits something (then a moment for its consequences) or `tick` passes.
async fn wait(activity: &mut watch::Receiver<u64>, tick: Duration) {
    tokio::select! {
        changed = activity.changed() => {
            if changed.is_err() {
                tokio::time::sleep(tick).await;
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        () = tokio::time::sleep(tick) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_fragments_are_sent_again() {
        let mut sent = HashMap::new();
        assert!(changed(&mut sent, &Fragment::replace("stages", "a".into())));
        assert!(!changed(&mut sent, &Fragment::replace("stages", "a".into())));
        assert!(changed(&mut sent, &Fragment::replace("stages", "b".into())));
        let line = Fragment { event: "log", html: "x\n".into(), append: true, id: None };
        assert!(changed(&mut sent, &line) && changed(&mut sent, &line));
        assert!(!changed(&mut sent, &Fragment { event: "log", html: String::new(), append: true, id: None }));
    }
}
