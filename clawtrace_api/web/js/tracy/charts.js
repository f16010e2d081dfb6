// Tracy's charts: ECharts option objects (validated as plain data by the API), drawn by ECharts from the
// npm lock, loaded only when a chart arrives. Without it (npm was not run), the data is shown as JSON.
const version = document.body.dataset.version;
let loading = null;

function loadEcharts() {
  if (window.echarts) return Promise.resolve(window.echarts);
  loading ||= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = `/ui/${version}/vendor/echarts.min.js`;
    script.onload = () => resolve(window.echarts);
    script.onerror = () => reject(new Error("ECharts is not installed (run make install with npm present)"));
    document.head.append(script);
  });
  return loading;
}

export async function drawChart(el, option) {
  const echarts = await loadEcharts();
  const chart = echarts.init(el, null, { renderer: "svg" });
  chart.setOption({ animation: false, ...option });
  return chart;
}
