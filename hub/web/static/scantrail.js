// The dashboard's only script. Parts of a page marked data-part/data-live are fetched
// again when the hub's live stream reports a change of that kind: no reload, nothing
// from another host. Forms marked data-ack or data-post send their change with fetch and
// the session's CSRF token (a plain form post could not carry the header).
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const parts = Array.from(document.querySelectorAll("[data-part]"));
  const pending = new Set();

  async function refresh(part) {
    pending.delete(part);
    const response = await fetch(part.dataset.part + window.location.search, {
      headers: { Accept: "text/html" },
    });
    if (response.ok) {
      part.innerHTML = await response.text();
    }
  }

  function soon(part) {
    if (!pending.has(part)) {
      pending.add(part);
      setTimeout(() => refresh(part), 200); // a burst of events makes one fetch
    }
  }

  const liveKinds = (part) => part.dataset.live.split(",").filter((k) => k);
  const kinds = new Set(parts.flatMap(liveKinds));
  if (kinds.size) {
    const source = new EventSource("/api/v1/stream?kinds=" + Array.from(kinds).join(","));
    // The hub ends the stream when this session's access ends: reconnecting would not help.
    source.addEventListener("end", () => source.close());
    kinds.forEach((kind) =>
      source.addEventListener(kind, () =>
        parts.filter((p) => liveKinds(p).includes(kind)).forEach(soon)
      )
    );
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-ack], form[data-post]");
    if (!form) {
      return;
    }
    event.preventDefault();
    const status = form.querySelector('[role="status"]');
    const body = form.elements.note ? { note: form.elements.note.value } : {};
    const response = await fetch(form.action, {
      method: form.dataset.method || "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    if (response.ok) {
      parts.forEach(refresh);
    } else {
      const answer = await response.json().catch(() => null);
      status.textContent = answer && answer.error ? answer.error.message : "Not done.";
    }
  });

  // Print buttons: no inline handlers, which the Content-Security-Policy refuses.
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-print]")) {
      window.print();
    }
  });
})();
