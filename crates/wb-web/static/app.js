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


// Times: the server writes <time datetime="…Z" data-local="date|datetime"> with the UTC text;
// here that text becomes the reader's local time (the UTC text stays as the tooltip).
const LOCAL_FORMATS = {
  date: { year: "numeric", month: "short", day: "numeric" },
  datetime: {
    year: "numeric", month: "short", day: "numeric",
    hour: "numeric", minute: "2-digit", timeZoneName: "short",
  },
};

function localTimes(root) {
  if (!root || !root.querySelectorAll || typeof Intl === "undefined") return;
  for (const el of root.querySelectorAll("time[data-local]")) {
    if (el.dataset.localized) continue;
    const when = new Date(el.getAttribute("datetime"));
    const options = LOCAL_FORMATS[el.dataset.local];
    if (Number.isNaN(when.getTime()) || !options) continue;
    try {
      const text = new Intl.DateTimeFormat(undefined, options).format(when);
      el.title = el.textContent;
      el.textContent = text;
      el.dataset.localized = "1";
    } catch (_) {
      // An engine without these options keeps the UTC text.
    }
  }
}

// "Print certificate" and other print buttons: hidden until this script can print.
function printButtons(root) {
  if (!root || !root.querySelectorAll || typeof window.print !== "function") return;
  for (const button of root.querySelectorAll("button[data-print]")) {
    button.hidden = false;
  }
}

document.addEventListener("click", (event) => {
  const button = event.target && event.target.closest ? event.target.closest("button[data-print]") : null;
  if (!button) return;
  event.preventDefault();
  window.print();
});

document.addEventListener("htmx:load", (event) => {
  localTimes(event.detail && event.detail.elt);
});

// The cohort builder keeps every edit on the server, yet leaving it with changes that are not
// saved as a cohort asks first (links inside the builder and its save forms do not ask).
let leavingOnPurpose = false;
document.addEventListener("click", (event) => {
  const link = event.target && event.target.closest ? event.target.closest("a[data-builder-nav]") : null;
  if (link) leavingOnPurpose = true;
});
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form && form.hasAttribute && form.hasAttribute("data-leaves-saved")) leavingOnPurpose = true;
  else if (form && form.method === "post" && !form.hasAttribute("hx-post")) leavingOnPurpose = true;
});
window.addEventListener("beforeunload", (event) => {
  const builder = document.getElementById("builder");
  if (leavingOnPurpose || !builder || builder.dataset.unsaved !== "true") return;
  event.preventDefault();
  event.returnValue = "";
});
window.addEventListener("pageshow", () => { leavingOnPurpose = false; });

// A builder edit that could not reach the server: say so; the form keeps what was typed.
document.addEventListener("htmx:sendError", () => {
  const status = document.getElementById("builder-status");
  if (status) status.textContent = "Not saved: the server could not be reached. What you typed is still in the form; try again.";
});
document.addEventListener("htmx:beforeRequest", (event) => {
  const status = document.getElementById("builder-status");
  if (status && event.detail && event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("#builder")) status.textContent = "Counting…";
});

function enhance() {
  localTimes(document);
  printButtons(document);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", enhance);
else enhance();
