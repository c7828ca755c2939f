// Gatehouse console: the little script its pages need. Served from the
// binary; the Content-Security-Policy allows only this file.
"use strict";

// Pages marked data-refresh="N" reload their live part every N seconds:
// the same URL with ?fragment=1 answers just the <main> content.
function startRefresh() {
  const seconds = Number(document.body.dataset.refresh || 0);
  if (!seconds) return;
  const main = document.getElementById("live");
  const tick = async () => {
    try {
      const url = new URL(window.location.href);
      url.searchParams.set("fragment", "1");
      const resp = await fetch(url, { credentials: "same-origin" });
      if (resp.ok) {
        main.innerHTML = await resp.text();
        wire(main);
        document.body.dataset.updated = String(Date.now());
      }
    } catch (e) {
      // The server is restarting: try again at the next tick.
    }
    setTimeout(tick, seconds * 1000);
  };
  setTimeout(tick, seconds * 1000);
}

// Buttons and forms inside a part of the page.
function wire(root) {
  root.querySelectorAll("button[data-copy]").forEach((b) => {
    b.addEventListener("click", async () => {
      await navigator.clipboard.writeText(b.dataset.copy);
      b.textContent = "Copied";
    });
  });
  root.querySelectorAll("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (ev) => {
      if (!window.confirm(f.dataset.confirm)) ev.preventDefault();
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  wire(document);
  startRefresh();
});
