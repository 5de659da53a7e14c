/* Trend charts of /console/stats and of the weekly report 《投诉举报动态》 (Apache ECharts, vendored in
   static/vendor/echarts/). Reads the JSON of <script type="application/json" id="sv-trend-data">
   (xiaoan/supervision/trends.py chart_json) and draws every <div class="sv-chart" data-chart="KEY">;
   a chart with data-source="ID" reads the JSON block of that id instead (the weekly report has two).
   data-type: "bar" stacked bars of counts, "line" counts, "rate" percentages (gaps where there is
   no data). Sets data-rendered="1" on each drawn chart and window.xiaoanChartsReady = true when all
   are drawn (the PDF printer waits for it). */
(function () {
  "use strict";
  if (typeof echarts === "undefined") { return; }
  var cache = {};
  function dataset(id) {
    if (!(id in cache)) {
      var node = document.getElementById(id);
      cache[id] = node ? JSON.parse(node.textContent) : null;
    }
    return cache[id];
  }
  var FONT = '"Noto Sans CJK SC", "WenQuanYi Zen Hei", "Microsoft YaHei", "PingFang SC", sans-serif';
  var COLORS = ["#1f5fae", "#d9822b", "#3a9d5d", "#c23b3b", "#7b5ea7", "#2a9bb5", "#8c8c8c"];
  var staticMode = document.documentElement.hasAttribute("data-static-charts");

  function option(data, kind, series) {
    var rate = kind === "rate";
    return {
      animation: !staticMode,
      color: COLORS,
      textStyle: { fontFamily: FONT },
      tooltip: { trigger: "axis", renderMode: "richText", valueFormatter: rate ? function (v) { return v == null ? "—" : v + "%"; } : undefined },
      legend: { type: "scroll", top: 0, textStyle: { fontFamily: FONT } },
      grid: { left: 44, right: 16, top: 36, bottom: 56, containLabel: false },
      xAxis: { type: "category", data: data.buckets,
               axisLabel: { hideOverlap: data.granularity !== "week", interval: data.granularity === "week" ? 0 : "auto",
                            fontFamily: FONT } },
      yAxis: rate ? { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } }
                  : { type: "value", minInterval: 1 },
      series: series.map(function (s) {
        return {
          name: s.name,
          type: kind === "bar" ? "bar" : "line",
          stack: kind === "bar" ? "total" : undefined,
          data: s.data,
          connectNulls: false,
          showSymbol: true,
          emphasis: { focus: "series" }
        };
      })
    };
  }

  var nodes = document.querySelectorAll(".sv-chart[data-chart]");
  var charts = [];
  nodes.forEach(function (node) {
    var data = dataset(node.getAttribute("data-source") || "sv-trend-data");
    var series = data && data[node.getAttribute("data-chart")];
    if (!series) { return; }
    var chart = echarts.init(node, null, { renderer: staticMode ? "svg" : "canvas", locale: "ZH" });
    chart.setOption(option(data, node.getAttribute("data-type"), series));
    node.setAttribute("data-rendered", "1");
    node.setAttribute("data-series", series.map(function (s) { return s.name; }).join("|"));
    charts.push(chart);
  });
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  window.xiaoanChartsReady = true;
})();
