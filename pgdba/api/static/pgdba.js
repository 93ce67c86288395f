// The dashboard reads without JavaScript; this only adds copy buttons to SQL/ORM fixes.
document.querySelectorAll("pre.fix").forEach(function (block) {
  var button = document.createElement("button");
  button.className = "copy";
  button.type = "button";
  button.textContent = "copy";
  button.addEventListener("click", function () {
    if (navigator.clipboard) {
      navigator.clipboard.writeText(block.textContent).then(function () { button.textContent = "copied"; });
    }
  });
  block.parentNode.insertBefore(button, block.nextSibling);
});
