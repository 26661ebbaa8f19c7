/* agentcron console: the live timeline of one execution.
 * Reads the execution's events (JSONL: executionBegin, operationBegin/End, executionEnd) from the console's
 * same-origin endpoint and draws each operation (model request or tool call) as a bar on the run's time axis,
 * with its duration; input, result and error are expandable; errors are highlighted. Ends at executionEnd,
 * then reloads the summary, outcome, tokens and transcript. Reconnects if the stream drops before the end. */
(function () {
  "use strict";
  var ol = document.getElementById("timeline");
  if (!ol) return;
  var stateEl = document.getElementById("timeline-state");
  var emptyEl = document.getElementById("timeline-empty");
  var ops = {};
  var list = [];
  var t0 = null;
  var tEnd = null;
  var finished = false;
  var drawQueued = false;
  var started = parseInt(ol.getAttribute("data-started") || "", 10);

  function show(value) {
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }
  function fmt(ms) {
    if (ms < 1000) return ms + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
    var s = Math.floor(ms / 1000);
    return Math.floor(s / 60) + " min " + (s % 60) + " s";
  }
  function setState(text) {
    stateEl.textContent = text;
    stateEl.className = "badge " + text;
  }
  function expandable(label, value, open) {
    var d = document.createElement("details");
    var s = document.createElement("summary");
    var pre = document.createElement("pre");
    s.textContent = label;
    pre.textContent = show(value);
    d.appendChild(s);
    d.appendChild(pre);
    if (open) d.open = true;
    return d;
  }
  function draw() {
    drawQueued = false;
    if (t0 === null || !list.length) return;
    var last = tEnd;
    if (last === null) {
      last = t0;
      list.forEach(function (op) { last = Math.max(last, op.end === null ? op.start : op.end); });
    }
    var span = Math.max(1, last - t0);
    list.forEach(function (op) {
      var end = op.end === null ? last : op.end;
      op.bar.style.left = ((op.start - t0) / span * 100).toFixed(2) + "%";
      op.bar.style.width = (Math.max(0, end - op.start) / span * 100).toFixed(2) + "%";
    });
  }
  function redraw() {
    if (!drawQueued) { drawQueued = true; window.requestAnimationFrame(draw); }
  }
  function begin(data, at) {
    if (ops[data.id]) return ops[data.id];
    if (t0 === null) t0 = at;
    if (emptyEl) emptyEl.hidden = true;
    var action = data.action || {};
    var name = action.name || data.id;
    var li = document.createElement("li");
    li.className = "op";
    li.id = "op-" + data.id;
    var head = document.createElement("div");
    head.className = "op-head";
    var kind = document.createElement("span");
    kind.className = "sub";
    kind.textContent = name.indexOf("model:") === 0 ? "Model request" : "Tool call";
    var title = document.createElement("span");
    title.className = "op-name";
    title.textContent = name.indexOf("model:") === 0 ? name.slice(6) : name;
    var dur = document.createElement("span");
    dur.className = "op-dur";
    dur.textContent = "running…";
    head.appendChild(title);
    head.appendChild(kind);
    head.appendChild(dur);
    var track = document.createElement("div");
    track.className = "bar";
    var bar = document.createElement("span");
    track.appendChild(bar);
    li.appendChild(head);
    li.appendChild(track);
    if (action.input !== undefined && action.input !== null) li.appendChild(expandable("Input", action.input));
    ol.appendChild(li);
    var op = { li: li, dur: dur, bar: bar, start: at, end: null };
    ops[data.id] = op;
    list.push(op);
    return op;
  }
  function end(data, at) {
    var op = begin(data, at);
    if (op.end !== null) return;
    op.end = at;
    op.dur.textContent = fmt(op.end - op.start);
    if (data.error) {
      op.li.classList.add("error");
      op.li.appendChild(expandable("Error", data.error, true));
    } else {
      op.li.classList.add("done");
      if (data.result !== undefined && data.result !== null) op.li.appendChild(expandable("Result", data.result));
    }
  }
  function refreshDetails() {
    var target = document.getElementById("run-details");
    fetch(ol.getAttribute("data-details"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html && target) target.outerHTML = html; })
      .catch(function () { /* the page still shows what it had */ });
  }
  function handle(ev) {
    var data = ev.data || {};
    if (ev.type === "executionBegin") {
      if (t0 === null) t0 = ev.createdAt;
      if (!finished) setState("running");
    } else if (ev.type === "operationBegin") {
      begin(data, ev.createdAt);
      if (!finished) setState("running");
    } else if (ev.type === "operationEnd") {
      end(data, ev.createdAt);
    } else if (ev.type === "executionEnd") {
      if (!data.outcome || data.outcome === "pending") return; /* handed back: it runs again */
      finished = true;
      tEnd = ev.createdAt;
      setState(data.status === "canceled" ? "canceled" : data.outcome === "success" ? "completed" : "failed");
      if (!isNaN(started)) document.getElementById("run-duration").textContent = fmt(Math.max(0, tEnd - started));
      if (emptyEl && !list.length) { emptyEl.hidden = false; emptyEl.textContent = "This run made no model request or tool call."; }
      refreshDetails();
    }
    redraw();
  }
  function connect(attempt) {
    fetch(ol.getAttribute("data-events"), { credentials: "same-origin", headers: { accept: "application/jsonl" } })
      .then(function (response) {
        var type = response.headers.get("content-type") || "";
        if (!response.ok || type.indexOf("jsonl") < 0) {
          window.location.href = "/app/login?next=" + encodeURIComponent(window.location.pathname);
          return null;
        }
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) return null;
            buffer += decoder.decode(chunk.value, { stream: true });
            var lines = buffer.split("\n");
            buffer = lines.pop();
            lines.forEach(function (line) {
              if (line) handle(JSON.parse(line));
            });
            return pump();
          });
        }
        return pump();
      })
      .catch(function () { /* reconnect below */ })
      .then(function () {
        if (!finished && attempt < 30) window.setTimeout(function () { connect(attempt + 1); }, 1000);
      });
  }
  connect(0);
})();
