// The live screen-pop of the phone-duty page: the server sends the panel's HTML (rendered and escaped by
// its template) as a "pop" server-sent event whenever the operator's call changes; this puts it in place.
// Without this script the page refreshes itself (a <noscript> refresh) and shows the same panel.
(function () {
  "use strict";
  var panel = document.getElementById("screen-pop");
  if (!panel || !window.EventSource) {
    return;
  }
  var source = new EventSource(panel.getAttribute("data-events"));
  source.addEventListener("open", function () {
    panel.setAttribute("data-live", "1");
  });
  source.addEventListener("pop", function (event) {
    panel.innerHTML = event.data;
  });
})();
