// Before/after: a divider slider over the two images, and a side-by-side view at real pixel
// size (100 %, 200 %, 400 %) whose two panes pan together, so the same spot of the original
// and the result is always in view. Vanilla JS; the page works (two images) without it.
(function () {
  "use strict";

  const CLICK_SLOP = 4; // px a pointer may move and still count as a click, not a drag

  function setup(root) {
    const slider = root.querySelector("[data-slider]");
    const zoom = root.querySelector("[data-zoom]");
    if (!slider || !zoom) return;
    const range = slider.querySelector(".ba-range");
    const panes = Array.from(zoom.querySelectorAll(".zoom-pane"));
    const levelBox = root.querySelector(".zoom-level");
    const level = root.querySelector("[data-zoom-level]");
    const width = Number(root.dataset.width);
    const height = Number(root.dataset.height);
    let active = panes[1];

    // ----- slider -----
    function place(percent) {
      const clamped = Math.min(100, Math.max(0, percent));
      slider.style.setProperty("--pos", clamped + "%");
      range.value = clamped;
    }
    function percentAt(event) {
      const box = slider.getBoundingClientRect();
      return ((event.clientX - box.left) / box.width) * 100;
    }
    range.addEventListener("input", function () { place(Number(range.value)); });

    let drag = null;
    slider.addEventListener("pointerdown", function (event) {
      if (event.target === range) return;
      drag = { x: event.clientX, y: event.clientY, moved: false };
      slider.setPointerCapture(event.pointerId);
    });
    slider.addEventListener("pointermove", function (event) {
      if (!drag) return;
      if (Math.hypot(event.clientX - drag.x, event.clientY - drag.y) > CLICK_SLOP) drag.moved = true;
      if (drag.moved) place(percentAt(event));
    });
    slider.addEventListener("pointerup", function (event) {
      if (drag && !drag.moved) inspect(event);
      drag = null;
    });
    slider.addEventListener("pointercancel", function () { drag = null; });

    // ----- side by side at 100 % -----
    function scale() { return Number(level.value) || 1; }

    function sizePanes() {
      panes.forEach(function (pane) {
        const img = pane.querySelector("img");
        img.style.width = width * scale() + "px";
        img.style.height = height * scale() + "px";
      });
    }

    // Centre both panes on a spot given as fractions (0..1) of the image.
    function centreOn(fx, fy) {
      panes.forEach(function (pane) {
        pane.scrollLeft = fx * width * scale() - pane.clientWidth / 2;
        pane.scrollTop = fy * height * scale() - pane.clientHeight / 2;
      });
    }

    function currentCentre() {
      const pane = active;
      return {
        x: (pane.scrollLeft + pane.clientWidth / 2) / (width * scale()),
        y: (pane.scrollTop + pane.clientHeight / 2) / (height * scale()),
      };
    }

    function setMode(mode) {
      const zoomed = mode === "zoom";
      slider.hidden = zoomed;
      zoom.hidden = !zoomed;
      if (levelBox) levelBox.hidden = !zoomed;
      root.querySelectorAll("[data-mode]").forEach(function (button) {
        button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
      });
      if (zoomed) sizePanes();
    }

    function inspect(event) {
      const box = slider.getBoundingClientRect();
      const fx = (event.clientX - box.left) / box.width;
      const fy = (event.clientY - box.top) / box.height;
      setMode("zoom");
      centreOn(fx, fy);
    }

    root.querySelectorAll("[data-mode]").forEach(function (button) {
      button.addEventListener("click", function () {
        setMode(button.dataset.mode);
        if (button.dataset.mode === "zoom") centreOn(0.5, 0.5);
      });
    });

    level.addEventListener("change", function () {
      const centre = currentCentre();
      sizePanes();
      centreOn(centre.x, centre.y);
    });

    // Only the pane the person is using leads; the other follows. Without this the
    // follower's own scroll event would pull the leader back while it still moves.
    panes.forEach(function (pane) {
      ["pointerenter", "pointerdown", "wheel", "touchstart", "focus"].forEach(function (type) {
        pane.addEventListener(type, function () { active = pane; }, { passive: true });
      });
      pane.addEventListener("scroll", function () {
        if (pane !== active) return;
        panes.forEach(function (other) {
          if (other === pane) return;
          other.scrollLeft = pane.scrollLeft;
          other.scrollTop = pane.scrollTop;
        });
      }, { passive: true });
      panWithPointer(pane);
    });

    place(50);
  }

  // Drag inside a pane to move around the image, like a map.
  function panWithPointer(pane) {
    let start = null;
    pane.addEventListener("pointerdown", function (event) {
      start = { x: event.clientX, y: event.clientY, left: pane.scrollLeft, top: pane.scrollTop };
      pane.setPointerCapture(event.pointerId);
      pane.classList.add("panning");
    });
    pane.addEventListener("pointermove", function (event) {
      if (!start) return;
      pane.scrollLeft = start.left - (event.clientX - start.x);
      pane.scrollTop = start.top - (event.clientY - start.y);
    });
    ["pointerup", "pointercancel"].forEach(function (type) {
      pane.addEventListener(type, function () {
        start = null;
        pane.classList.remove("panning");
      });
    });
  }

  // "Copy" buttons next to a share link shown once.
  function setupCopy(button) {
    button.addEventListener("click", function () {
      const field = document.querySelector(button.dataset.copy);
      field.select();
      if (navigator.clipboard) navigator.clipboard.writeText(field.value);
      else document.execCommand("copy");
      button.textContent = "Copied";
    });
  }

  document.querySelectorAll("[data-compare]").forEach(setup);
  document.querySelectorAll("[data-copy]").forEach(setupCopy);
})();
