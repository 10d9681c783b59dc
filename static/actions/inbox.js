// Keeps the filter form's hidden "tab" in step with the tab htmx just loaded, so the next
// filter change stays on that tab.
document.addEventListener("htmx:afterSwap", function () {
  var results = document.getElementById("results");
  var tab = document.getElementById("inbox-tab");
  if (results && tab && results.dataset.tab) {
    tab.value = results.dataset.tab;
  }
});
