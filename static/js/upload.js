// Upload page: each chosen or dropped file is sent on its own request with a progress bar,
// so a bad file fails alone and a big batch shows where it is. Without this script the
// form still posts the files directly.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const input = document.getElementById("file-input");
  const zone = document.getElementById("dropzone");
  const list = document.getElementById("file-list");
  const submit = document.getElementById("submit-button");
  if (!form || !input) return;

  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const uploadUrl = input.dataset.uploadUrl;
  let inFlight = 0;

  function refreshButton() {
    const ready = form.querySelectorAll("input[name=source_ids]").length;
    submit.disabled = inFlight > 0;
    submit.textContent = inFlight > 0
      ? "Uploading " + inFlight + " file(s)…"
      : ready ? "Upscale " + ready + " image(s)" : "Upscale";
  }

  function row(file) {
    const li = document.createElement("li");
    li.className = "file-row";
    const name = document.createElement("span");
    name.className = "file-name";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    const note = document.createElement("span");
    note.className = "file-note muted";
    note.textContent = (file.size / 1048576).toFixed(1) + " MB";
    li.append(name, bar, note);
    list.append(li);
    return { li, bar, note };
  }

  function send(file) {
    const ui = row(file);
    const data = new FormData();
    data.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", uploadUrl);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) ui.bar.value = Math.round((e.loaded / e.total) * 100);
    });
    xhr.addEventListener("loadend", function () {
      inFlight -= 1;
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
      if (xhr.status === 201) {
        ui.bar.value = 100;
        ui.li.classList.add("ok");
        ui.note.textContent = body.width + "×" + body.height + " " + body.format;
        const hidden = document.createElement("input");
        hidden.type = "hidden";
        hidden.name = "source_ids";
        hidden.value = body.id;
        ui.li.append(hidden);
        form.dispatchEvent(new Event("change", { bubbles: true }));  // live cost estimate
      } else {
        ui.li.classList.add("failed");
        ui.note.textContent = body.error || ("Upload failed (HTTP " + xhr.status + ")");
        ui.note.classList.add("error");
      }
      refreshButton();
    });
    inFlight += 1;
    refreshButton();
    xhr.send(data);
  }

  function take(files) {
    Array.from(files).forEach(send);
    input.value = "";  // already sent: the form must not post them a second time
  }

  input.addEventListener("change", function () { take(input.files); });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (e) { take(e.dataTransfer.files); });
  form.addEventListener("submit", function (e) {
    if (inFlight > 0) e.preventDefault();
  });
})();
