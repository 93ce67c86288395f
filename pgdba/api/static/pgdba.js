// The dashboard reads without JavaScript; this only adds copy buttons to SQL/ORM fixes.
(function () {
  // navigator.clipboard exists only in a secure context (HTTPS or localhost); elsewhere (plain HTTP on
  // another host) the fix is selected and copied with execCommand, or the button asks for Ctrl+C.
  function selectText(block) {
    var range = document.createRange();
    range.selectNodeContents(block);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copyBySelection(block, button) {
    selectText(block);
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    button.textContent = copied ? "copied" : "press Ctrl+C";
  }

  document.querySelectorAll("pre.fix").forEach(function (block) {
    var button = document.createElement("button");
    button.className = "copy";
    button.type = "button";
    button.textContent = "copy";
    button.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(block.textContent).then(
          function () { button.textContent = "copied"; },
          function () { copyBySelection(block, button); }
        );
      } else {
        copyBySelection(block, button);
      }
    });
    block.parentNode.insertBefore(button, block.nextSibling);
  });
})();
