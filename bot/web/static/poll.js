// Follows a thread that is still working: asks for its state every 1.5 s and reloads the page when
// a new event is recorded. No other script runs on these pages; the page works without it (a
// <noscript> refresh takes its place).
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !live.dataset.poll) { return; }
  var url = live.dataset.state;
  var seq = live.dataset.seq;
  var status = live.dataset.status;
  function typing() {
    var el = document.activeElement;
    return el && (el.tagName === "TEXTAREA" || el.tagName === "INPUT") && el.value;
  }
  function check() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) {
        if (state && (String(state.last_seq) !== seq || state.status !== status) && !typing()) {
          window.location.reload();
          return;
        }
        window.setTimeout(check, 1500);
      })
      .catch(function () { window.setTimeout(check, 5000); });
  }
  window.setTimeout(check, 1500);
})();
