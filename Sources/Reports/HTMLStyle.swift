/// The HTML report's one style sheet and one script, inlined in every page.
enum HTMLStyle {
  static let css = """
    :root {
      color-scheme: light dark;
      --bg: #ffffff; --fg: #1f2328; --muted: #59636e; --border: #d1d9e0; --code: #f6f8fa;
      --lane: #f6f8fa; --lane2: #ffffff; --line: #c8d1da;
      --alloc: #1a7f37; --free: #9a6700; --map: #0969da; --unmap: #8250df; --dma: #bc4c00;
      --cache: #57606a; --call: #59636e; --report: #cf222e; --sel: #fff8c5; --reach: .22;
    }
    @media (prefers-color-scheme: dark) {
      :root {
        --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --border: #3d444d; --code: #151b23;
        --lane: #151b23; --lane2: #0d1117; --line: #3d444d;
        --alloc: #3fb950; --free: #d29922; --map: #4493f8; --unmap: #ab7df8; --dma: #f0883e;
        --cache: #9198a1; --call: #9198a1; --report: #f85149; --sel: #3b2e00; --reach: .4;
      }
    }
    body { background: var(--bg); color: var(--fg); margin: 0 auto; max-width: 1600px; padding: 0 1.2em 3em;
      font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
    code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px; }
    h1 { margin: .6em 0 .1em; } h2 { margin-top: 1.4em; border-bottom: 1px solid var(--border); }
    h3 { margin: 1.2em 0 .4em; }
    a { color: var(--map); }
    .cmd code { background: var(--code); padding: .2em .4em; border-radius: 4px; }
    .counts, .note { color: var(--muted); }
    table { border-collapse: collapse; margin: .4em 0; }
    th, td { border: 1px solid var(--border); padding: .25em .6em; text-align: left; vertical-align: top; }
    th { background: var(--code); } td.num { text-align: right; }
    .status.pass { color: var(--alloc); font-weight: 600; } .status.fail { color: var(--report); font-weight: 600; }
    ul.messages { margin: 0; padding-left: 1.1em; font-family: ui-monospace, Menlo, monospace; font-size: 12px; }
    .kind { display: inline-block; border: 1px solid var(--report); color: var(--report); border-radius: 1em;
      padding: 0 .55em; font-size: 12px; font-weight: 600; }
    section.subject { border-top: 1px solid var(--border); }
    .story { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1.2em; align-items: start; }
    @media (max-width: 1100px) { .story { grid-template-columns: minmax(0, 1fr); } }
    .scroll { overflow-x: auto; border: 1px solid var(--border); border-radius: 6px; }
    svg.timeline { display: block; font-size: 11px; }
    svg .lane-bg { fill: var(--lane2); } svg .lane:nth-of-type(odd) .lane-bg { fill: var(--lane); }
    svg .lane-line { stroke: var(--line); stroke-width: 1; }
    svg text { fill: var(--fg); } svg .lane-kind { fill: var(--muted); font-size: 10px; text-transform: uppercase; }
    svg .lane-label { font-weight: 600; font-size: 12px; }
    svg .step-n { fill: var(--muted); text-anchor: middle; font-size: 10px; }
    svg .ml { text-anchor: middle; font-weight: 600; } svg .md { text-anchor: middle; fill: var(--muted); font-size: 10px; }
    svg .reach rect { fill: var(--map); opacity: var(--reach); } svg .reach.cached rect { fill: var(--cache); } svg .reach-label { text-anchor: start; }
    svg .link { stroke: var(--muted); stroke-width: 1; stroke-dasharray: 2 2; }
    svg .report-line { stroke: var(--report); stroke-width: 1.5; stroke-dasharray: 5 3; }
    svg .shape { stroke: var(--bg); stroke-width: 1.5; }
    svg .m-alloc .shape, svg .m-realloc .shape { fill: var(--alloc); } svg .m-free .shape { fill: var(--free); }
    svg .m-map .shape { fill: var(--map); } svg .m-unmap .shape { fill: var(--unmap); }
    svg .m-dma .shape { fill: var(--dma); } svg .m-fill .shape, svg .m-hit .shape { fill: var(--cache); }
    svg .m-inval .shape { fill: none; stroke: var(--cache); stroke-width: 3; }
    svg .m-call .shape { fill: var(--call); } svg .m-trace .shape { fill: var(--muted); }
    svg .m-report .shape { fill: var(--report); } svg .m-report .ml { fill: var(--report); }
    svg .m-realloc .ml { fill: var(--alloc); }
    svg .ev { cursor: pointer; outline: none; }
    svg .ev:hover .shape, svg .ev:focus .shape, svg .ev.sel .shape { stroke: var(--fg); stroke-width: 2.5; }
    ol.steps { padding-left: 0; list-style: none; margin: .6em 0; }
    ol.steps li { padding: .1em .3em; border-left: 3px solid transparent; }
    ol.steps li .n { display: inline-block; min-width: 1.8em; color: var(--muted); text-align: right; }
    ol.steps li code.stmt { margin-left: 2.2em; color: var(--muted); white-space: pre-wrap; word-break: break-all; }
    ol.steps li.st-report { border-left-color: var(--report); }
    ol.steps li.sel { background: var(--sel); }
    .selected { display: none; }
    .js .selected:not(:empty) { display: block; background: var(--sel); padding: .3em .6em; border-radius: 4px;
      font-family: ui-monospace, Menlo, monospace; font-size: 12px; }
    details.report { margin: .4em 0; } details.report summary { cursor: pointer; }
    pre.ktext { background: var(--code); border: 1px solid var(--border); border-radius: 6px; padding: .6em;
      overflow-x: auto; margin: .3em 0; }
    @media print {
      :root { --bg: #fff; --fg: #000; --muted: #444; --border: #999; --code: #fff; --lane: #f2f2f2; --lane2: #fff;
        --sel: transparent; }
      body { max-width: none; padding: 0; font-size: 10pt; }
      .selected { display: none !important; }
      .story { grid-template-columns: minmax(0, 1fr); }
      .scroll { overflow: visible; border: none; } svg.timeline { max-width: 100%; height: auto; }
      section.subject { break-inside: avoid-page; } pre.ktext { white-space: pre-wrap; font-size: 8pt; }
      a { color: inherit; text-decoration: none; }
    }

    """

  /// Selecting (clicking, focusing) an event highlights it on the
  /// timeline and in the list, and shows its statement above the list.
  static let script = """
    (function () {
      "use strict";
      document.documentElement.classList.add("js");
      function select(section, step) {
        section.querySelectorAll(".sel").forEach(function (e) { e.classList.remove("sel"); });
        section.querySelectorAll("[data-step='" + step + "']").forEach(function (e) { e.classList.add("sel"); });
        var item = section.querySelector("li[data-step='" + step + "']");
        var out = section.querySelector(".selected");
        if (item && out) { out.textContent = item.textContent; }
      }
      document.querySelectorAll("section.subject").forEach(function (section) {
        function handle(ev) {
          var t = ev.target.closest ? ev.target.closest("[data-step]") : null;
          if (t) { select(section, t.getAttribute("data-step")); }
        }
        section.addEventListener("click", handle);
        section.addEventListener("focusin", handle);
        section.addEventListener("keydown", function (ev) {
          if (ev.key !== "ArrowRight" && ev.key !== "ArrowLeft") { return; }
          var t = ev.target.closest ? ev.target.closest("g.ev") : null;
          if (!t) { return; }
          var next = ev.key === "ArrowRight" ? t.nextElementSibling : t.previousElementSibling;
          if (next && next.classList.contains("ev")) { next.focus(); ev.preventDefault(); }
        });
      });
    })();

    """
}
