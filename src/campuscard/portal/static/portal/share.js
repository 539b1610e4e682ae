// Visitor pass: share the code with the visitor (#17 item 11). The phone's share sheet (Web Share API) gets
// the code as a PNG and the details as text; where there is none, the details are copied and the image saved.
(function () {
  const box = document.getElementById("visitor-share-box");
  const svg = document.querySelector("#visitor-qr svg");
  if (!box || !svg) return;
  const status = document.getElementById("visitor-share-status");
  const text = box.dataset.shareText;

  function png() {
    return new Promise((resolve) => {
      const source = new XMLSerializer().serializeToString(svg);
      const image = new Image();
      image.onload = () => {
        const size = 480, canvas = document.createElement("canvas");
        canvas.width = canvas.height = size;
        const context = canvas.getContext("2d");
        context.fillStyle = "#fff";
        context.fillRect(0, 0, size, size);
        context.imageSmoothingEnabled = false;
        context.drawImage(image, 0, 0, size, size);
        canvas.toBlob(resolve, "image/png");
      };
      image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(source);
    });
  }

  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {  // no clipboard permission: select a hidden copy instead
      const area = document.createElement("textarea");
      area.value = text; area.setAttribute("readonly", ""); area.style.position = "fixed"; area.style.opacity = "0";
      document.body.appendChild(area); area.select(); document.execCommand("copy"); area.remove();
    }
    status.textContent = box.dataset.copied;
  }

  async function save(event) {
    const link = document.getElementById("visitor-save");
    if (link.dataset.ready) return;  // the second, synthetic click downloads
    event.preventDefault();
    link.href = URL.createObjectURL(await png());
    link.dataset.ready = "1";
    link.click();
  }

  async function share() {
    const file = new File([await png()], box.dataset.fileName, { type: "image/png" });
    const data = { title: box.dataset.shareTitle, text, files: [file] };
    if (navigator.canShare && navigator.canShare(data)) {
      try { await navigator.share(data); return; } catch (e) { if (e.name === "AbortError") return; }
    } else if (navigator.share) {
      try { await navigator.share({ title: data.title, text }); return; } catch (e) { if (e.name === "AbortError") return; }
    }
    await copy();
    document.getElementById("visitor-save").click();
  }

  document.getElementById("visitor-share").addEventListener("click", share);
  document.getElementById("visitor-copy").addEventListener("click", copy);
  document.getElementById("visitor-save").addEventListener("click", save);
})();
