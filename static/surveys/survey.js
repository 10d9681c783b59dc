// Progressive enhancement for the survey page: every answer is saved the moment a person gives
// it. Without JavaScript the page works the same through its buttons.
//
// Nothing here posts on its own: mail security scanners open every link in an email in a
// headless browser that runs this script, and an answer posted on load, on a timer, on scroll
// or on focus would be theirs, not the customer's (a "No" opens an action and emails staff).
// Only a change the browser reports as made by a person (event.isTrusted: not one a script
// dispatched) saves anything; the answer an email link chose waits for its button.
(function () {
  "use strict";
  var form = document.querySelector("[data-survey]");
  if (!form) return;
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]");
  // The words are the page's, in the customer's language: the template renders them into
  // data- attributes with {% translate %}; this script writes no words of its own.
  var savedWord = form.getAttribute("data-saved-word") || "";
  var notSavedWords = form.getAttribute("data-not-saved-words") || "";

  function post(question, answer) {
    var body = new URLSearchParams();
    body.append("q", question);
    body.append("a", answer);
    return fetch(form.getAttribute("action"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "X-CSRFToken": csrf ? csrf.value : "" },
      body: body,
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok || !data.saved) throw new Error(data.error || "Not saved");
        return data;
      });
    });
  }

  function showProgress(data) {
    var bar = document.querySelector("[data-progress]");
    var text = document.querySelector("[data-progress-text]");
    if (bar) bar.value = data.answered;
    var words = text && text.getAttribute("data-progress-words");
    if (words) {
      text.textContent = words
        .replace("{answered}", String(data.answered))
        .replace("{total}", String(data.total));
    }
  }

  function mark(fieldset, message) {
    var mark = fieldset.querySelector(".saved-mark");
    if (!mark) {
      mark = document.createElement("span");
      mark.className = "saved-mark";
      mark.setAttribute("role", "status");
      fieldset.querySelector("legend").appendChild(mark);
    }
    mark.textContent = message;
  }

  // The answer chosen in the email is only shown: its form's button posts it, as a plain form
  // post, when the customer presses it.

  form.addEventListener("change", function (event) {
    if (!event.isTrusted) return;
    var input = event.target;
    if (input.type !== "radio") return;
    var fieldset = input.closest("[data-question]");
    if (!fieldset) return;
    post(fieldset.getAttribute("data-question"), input.value).then(function (data) {
      mark(fieldset, savedWord);
      showProgress(data);
    }).catch(function () {
      mark(fieldset, notSavedWords);
    });
  });
})();
