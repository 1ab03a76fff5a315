// The console dashboard's charts (templates/admin/integration_index.html). Each canvas names
// the json_script element holding its data (integration_site.dashboard.Chart); clicking a
// bar, point or slice opens the list it summarises. Bundled with Chart.js by
// scripts/build_js.sh into integration_site/static/integration_site/dashboard.js.
import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  DoughnutController,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";

Chart.register(
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  DoughnutController,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);

function linkOf(data, element) {
  const series = data.series[element.datasetIndex];
  return (series && series.links[element.index]) || data.link;
}

function draw(canvas) {
  const source = document.getElementById(canvas.dataset.chart);
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const round = data.kind === "doughnut";
  const chart = new Chart(canvas, {
    type: data.kind,
    data: {
      labels: data.labels,
      datasets: data.series.map((series) => ({
        label: series.label,
        data: series.values,
        backgroundColor: series.point_colours.length ? series.point_colours : series.colour,
        borderColor: round ? "#fff" : series.colour,
        fill: data.kind === "line" && data.stacked,
        pointRadius: data.kind === "line" ? 0 : undefined,
        tension: 0.2,
      })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: round ? "nearest" : "index", intersect: round },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: round
        ? {}
        : {
            x: { stacked: data.stacked, ticks: { autoSkip: true, maxRotation: 0 } },
            y: { stacked: data.stacked, beginAtZero: true, ticks: { precision: 0 } },
          },
      onClick(event, elements, instance) {
        // With index mode a click on a column selects every series: take the one clicked.
        const hits = instance.getElementsAtEventForMode(event, "nearest", { intersect: true }, false);
        const element = hits[0] || elements[0];
        const link = element ? linkOf(data, element) : data.link;
        if (link) window.location.assign(link);
      },
      onHover(event, elements) {
        event.native.target.style.cursor = elements.length || data.link ? "pointer" : "default";
      },
    },
  });
  // For the browser tests (where a bar is drawn); no global.
  canvas.chart = chart;
  canvas.dataset.drawn = String(chart.data.datasets.reduce((n, set) => n + set.data.length, 0));
  // The table stays in the page for screen readers and keyboards, folded under the chart.
  const table = canvas.closest("figure").querySelector("details");
  if (table) table.open = false;
}

document.querySelectorAll("canvas[data-chart]").forEach(draw);
