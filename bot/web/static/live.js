// Keeps a page current: its server-sent event stream (bot/web/live.py) sends the version of what the
// page shows whenever it changes, and the page reloads when that is not the version it was rendered
// at. While someone is typing, it says so instead of reloading. No other script runs on these pages,
// and the pages work without it.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !live.dataset.stream || !window.EventSource) { return; }
  var mine = live.dataset.version;
  function typing() {
    var el = document.activeElement;
    return el && (el.tagName === "TEXTAREA" || el.tagName === "INPUT") && el.value;
  }
  var source = new EventSource(live.dataset.stream);
  source.addEventListener("version", function (event) {
    var version = JSON.parse(event.data);
    if (version === mine) { return; }
    if (!typing()) {
      source.close();
      window.location.reload();
      return;
    }
    mine = version;
    live.textContent = "";
    live.appendChild(document.createTextNode("This page has changed since it was shown. "));
    var again = document.createElement("a");
    again.href = window.location.pathname + window.location.search;
    again.textContent = "Reload it";
    live.appendChild(again);
    live.hidden = false;
  });
})();
