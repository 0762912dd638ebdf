// Keeps a page current: its server-sent event stream (bot/web/live.py) sends the version of what the
// page shows whenever it changes, and the page reloads when that is not the version it was rendered
// at. While someone is typing, it says so instead of reloading; once a form is sent, it stops. No
// other script runs on these pages, and the pages work without it.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !live.dataset.stream || !window.EventSource) { return; }
  var mine = live.dataset.version;
  var here = window.location.pathname + window.location.search;
  // Where this page is read again: itself, or (for a page answering a form, such as a refusal)
  // the page it shows, since the answer to a POST cannot be reloaded.
  var page = live.dataset.page && live.dataset.page !== window.location.pathname ? live.dataset.page : here;
  function typing() {
    var el = document.activeElement;
    return el && (el.tagName === "TEXTAREA" || el.tagName === "INPUT") && el.value;
  }
  var source = new EventSource(live.dataset.stream);
  // A form sent (a decision, an answer) is a navigation the person chose: a change it causes must not
  // reload the page over it (that would cancel the submission's own page, and a page that answered a
  // POST cannot be reloaded at all).
  document.addEventListener("submit", function () { source.close(); }, true);
  source.addEventListener("version", function (event) {
    var version = JSON.parse(event.data);
    if (version === mine) { return; }
    if (!typing()) {
      source.close();
      if (page === here) { window.location.reload(); } else { window.location.replace(page); }
      return;
    }
    mine = version;
    live.textContent = "";
    live.appendChild(document.createTextNode("This page has changed since it was shown. "));
    var again = document.createElement("a");
    again.href = page;
    again.textContent = "Reload it";
    live.appendChild(again);
    live.hidden = false;
  });
})();
