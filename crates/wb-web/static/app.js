// Small progressive enhancements; every page works without this file.
document.addEventListener("input", (event) => {
  const el = event.target;
  const id = el && el.dataset ? el.dataset.counter : null;
  if (!id) return;
  const out = document.getElementById(id);
  const max = el.getAttribute("maxlength");
  if (out) out.textContent = `${[...el.value].length} / ${max} characters`;
});
