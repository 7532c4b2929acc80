// Small progressive enhancements; every page works without this file.
document.addEventListener("input", (event) => {
  const el = event.target;
  const id = el && el.dataset ? el.dataset.counter : null;
  if (!id) return;
  const out = document.getElementById(id);
  const max = el.getAttribute("maxlength");
  if (out) out.textContent = `${[...el.value].length} / ${max} characters`;
});


// A live check (htmx) replaces the field's status message, the server's error included; the
// field's invalid mark follows the new answer.
document.addEventListener("htmx:load", (event) => {
  const status = event.detail && event.detail.elt;
  const id = status && status.dataset ? status.dataset.statusOf : null;
  const field = id ? document.getElementById(id) : null;
  if (!field) return;
  if (status.classList.contains("field-error")) field.setAttribute("aria-invalid", "true");
  else field.removeAttribute("aria-invalid");
});
