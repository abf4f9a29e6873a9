// Small, dependency-free SVG plots for the HTML report: line plots on linear or log
// axes, and a raster of tick times. Every plot is an <svg data-plot="..."> whose data
// marks carry class names and counts, so a test can check the data is really drawn.

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const MARGIN = { left: 64, right: 16, top: 30, bottom: 44 };

function scale(domain, range, log) {
  const [d0, d1] = log ? domain.map(Math.log10) : domain;
  const [r0, r1] = range;
  const f = (v) => r0 + (((log ? Math.log10(v) : v) - d0) / (d1 - d0 || 1)) * (r1 - r0);
  return f;
}

function ticks(domain, log, count = 6) {
  const [a, b] = domain;
  if (log) {
    const decades = (mults) => {
      const out = [];
      for (let e = Math.floor(Math.log10(a)); e <= Math.ceil(Math.log10(b)); e++) {
        for (const m of mults) {
          const v = m * 10 ** e;
          if (v >= a * 0.999 && v <= b * 1.001) out.push(Number(v.toPrecision(6)));
        }
      }
      return out;
    };
    const ones = decades([1]);
    return ones.length >= 3 ? ones : decades([1, 2, 5]);
  }
  const step0 = (b - a) / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const out = [];
  for (let v = Math.ceil(a / step) * step; v <= b + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export const fmtTick = (v) => {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  if (a >= 1000) return `${Number((v / 1000).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
};

function axes({ width, height, x, y, xDomain, yDomain, xLog, yLog, xLabel, yLabel, title, xTicks, yTickFormat }) {
  const parts = [];
  const [x0, x1] = [MARGIN.left, width - MARGIN.right];
  const [y0, y1] = [height - MARGIN.bottom, MARGIN.top];
  parts.push(`<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" fill="#fff" stroke="#999"/>`);
  for (const t of xTicks ?? ticks(xDomain, xLog)) {
    const px = x(t);
    parts.push(`<line x1="${px}" y1="${y1}" x2="${px}" y2="${y0}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${px}" y="${y0 + 15}" text-anchor="middle" class="tick">${esc(fmtTick(t))}</text>`);
  }
  for (const t of ticks(yDomain, yLog)) {
    const py = y(t);
    parts.push(`<line x1="${x0}" y1="${py}" x2="${x1}" y2="${py}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${x0 - 5}" y="${py + 4}" text-anchor="end" class="tick">${esc((yTickFormat ?? fmtTick)(t))}</text>`);
  }
  parts.push(`<text x="${(x0 + x1) / 2}" y="${height - 8}" text-anchor="middle" class="label">${esc(xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle" class="label">${esc(yLabel)}</text>`);
  parts.push(`<text x="${x0}" y="18" class="title">${esc(title)}</text>`);
  return parts.join('');
}

function legend(series, x, y) {
  return series.map((s, i) => `<g transform="translate(${x} ${y + i * 15})"><line x1="0" y1="-4" x2="18" y2="-4" stroke="${s.color}" stroke-width="2.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/><text x="23" y="0" class="legend">${esc(s.label)}</text></g>`).join('');
}

/**
 * Lines (and optional point markers) on linear or log axes.
 * series: [{ label, color, points: [[x, y]], dash?, markers? }]
 */
export function linePlot({ kind, width = 440, height = 300, title, xLabel, yLabel, series, xLog = false, yLog = false, xDomain, yDomain, xTicks, legendAt = 'top-right', yTickFormat }) {
  // 'outside': the legend gets its own column right of the plot area
  const legendWidth = legendAt === 'outside' ? 175 : 0;
  const plotWidth = width;
  width += legendWidth;
  const all = series.flatMap((s) => s.points).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b) && (!xLog || a > 0) && (!yLog || b > 0));
  const xd = xDomain ?? [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  const yd = yDomain ?? [yLog ? Math.min(...all.map((p) => p[1])) : 0, Math.max(...all.map((p) => p[1])) * 1.08];
  const x = scale(xd, [MARGIN.left, plotWidth - MARGIN.right], xLog);
  const y = scale(yd, [height - MARGIN.bottom, MARGIN.top], yLog);
  const clampY = (v) => Math.max(MARGIN.top, Math.min(height - MARGIN.bottom, v));
  const body = [];
  for (const s of series) {
    const pts = s.points.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b) && (!xLog || a > 0) && (!yLog || b > 0));
    if (pts.length === 0) continue;
    const d = pts.map(([a, b], i) => `${i ? 'L' : 'M'}${x(a).toFixed(1)},${clampY(y(b)).toFixed(1)}`).join('');
    body.push(`<path class="series" data-series="${esc(s.label)}" data-points="${pts.length}" d="${d}" fill="none" stroke="${s.color}" stroke-width="2.2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    if (s.markers) for (const [a, b] of pts) body.push(`<circle class="point" cx="${x(a).toFixed(1)}" cy="${clampY(y(b)).toFixed(1)}" r="3.5" fill="${s.color}"/>`);
  }
  const shown = series.filter((s) => s.points.length);
  const lx = { 'top-left': MARGIN.left + 10, 'bottom-left': MARGIN.left + 10, outside: plotWidth + 4 }[legendAt] ?? plotWidth - MARGIN.right - 170;
  const ly = legendAt === 'bottom-left' ? height - MARGIN.bottom - 8 - 15 * shown.length + 14 : MARGIN.top + 14;
  return `<svg xmlns="http://www.w3.org/2000/svg" class="plot" data-plot="${esc(kind)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    axes({ width: plotWidth, height, x, y, xDomain: xd, yDomain: yd, xLog, yLog, xLabel, yLabel, title, xTicks, yTickFormat }) + body.join('') +
    (legendAt === 'bottom-left' ? `<rect x="${lx - 4}" y="${ly - 14}" width="160" height="${15 * shown.length + 4}" fill="#fff" fill-opacity="0.85"/>` : '') +
    legend(shown, lx, ly) + '</svg>';
}

/**
 * Tick times across CPUs: one row per (source, CPU), a mark per tick, dashed lines at
 * the grid points. rows: [{ label, color, ticks: [x µs] }], gridUs: interval in µs.
 */
export function rasterPlot({ kind = 'raster', width = 900, title, rows, xMax, gridUs }) {
  const rowH = 18;
  const left = 190;
  const top = 30;
  const height = top + rows.length * rowH + 40;
  const x = scale([0, xMax], [left, width - MARGIN.right], false);
  const parts = [`<text x="${left}" y="18" class="title">${esc(title)}</text>`];
  for (let g = 0; g <= xMax + 1e-9; g += gridUs) {
    parts.push(`<line x1="${x(g).toFixed(1)}" y1="${top - 4}" x2="${x(g).toFixed(1)}" y2="${top + rows.length * rowH}" stroke="#bbb" stroke-dasharray="3 3"/>`);
  }
  for (const t of ticks([0, xMax], false, 12)) parts.push(`<text x="${x(t)}" y="${top + rows.length * rowH + 16}" text-anchor="middle" class="tick">${esc(fmtTick(t))}</text>`);
  parts.push(`<text x="${(left + width) / 2}" y="${height - 6}" text-anchor="middle" class="label">µs from the window start (dashed: grid points)</text>`);
  rows.forEach((r, i) => {
    const y0 = top + i * rowH;
    if (i % 2 === 0) parts.push(`<rect x="${left}" y="${y0}" width="${width - MARGIN.right - left}" height="${rowH}" fill="#f6f6f6"/>`);
    parts.push(`<text x="${left - 6}" y="${y0 + 13}" text-anchor="end" class="legend">${esc(r.label)}</text>`);
    const marks = r.ticks.filter((t) => t >= 0 && t <= xMax).map((t) => `<line class="tick-mark" x1="${x(t).toFixed(1)}" y1="${y0 + 2}" x2="${x(t).toFixed(1)}" y2="${y0 + rowH - 2}" stroke="${r.color}" stroke-width="2.5"/>`);
    parts.push(`<g class="row" data-row="${esc(r.label)}" data-ticks="${marks.length}">${marks.join('')}</g>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" class="plot" data-plot="${esc(kind)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
}

/** Points of the complementary CDF (fraction of values above x) of ascending values, thinned for drawing. */
export function ccdfPoints(sorted, floor = 0.1) {
  const n = sorted.length;
  if (n === 0) return [];
  const out = [];
  let lastY = Infinity;
  for (let i = 0; i < n; i++) {
    const frac = (n - i) / n; // fraction of values >= sorted[i]
    // keep a point when the fraction moved by 2% (log scale) or in the last 30 values
    if (frac < lastY * 0.98 || i >= n - 30 || i === 0) {
      out.push([Math.max(floor, sorted[i]), frac]);
      lastY = frac;
    }
  }
  return out;
}
