// Geometry over the points in data units: bounds, a uniform grid for nearest-point lookups while
// hovering, and rectangle / lasso membership for selections.

export function bounds(x, y) {
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const a = x[i];
    const b = y[i];
    if (a < x0) x0 = a;
    if (a > x1) x1 = a;
    if (b < y0) y0 = b;
    if (b > y1) y1 = b;
  }
  if (!Number.isFinite(x0)) return { x0: -1, x1: 1, y0: -1, y1: 1 };
  if (x1 - x0 < 1e-12) {
    x0 -= 1;
    x1 += 1;
  }
  if (y1 - y0 < 1e-12) {
    y0 -= 1;
    y1 += 1;
  }
  return { x0, x1, y0, y1 };
}

/** A uniform grid over the points (counting sort by cell) for nearest-point queries. */
export class PointGrid {
  constructor(x, y, box, cells = 0) {
    const n = x.length;
    this.x = x;
    this.y = y;
    this.box = box;
    this.size = cells || Math.max(8, Math.min(512, Math.ceil(Math.sqrt(n / 4))));
    this.sx = this.size / (box.x1 - box.x0);
    this.sy = this.size / (box.y1 - box.y0);
    const cellOf = new Int32Array(n);
    const counts = new Int32Array(this.size * this.size + 1);
    for (let i = 0; i < n; i++) {
      const c = this.cell(x[i], y[i]);
      cellOf[i] = c;
      counts[c + 1]++;
    }
    for (let c = 1; c < counts.length; c++) counts[c] += counts[c - 1];
    this.start = counts;
    this.order = new Int32Array(n);
    const fill = counts.slice(0, -1);
    for (let i = 0; i < n; i++) this.order[fill[cellOf[i]]++] = i;
  }

  column(v) {
    return Math.max(0, Math.min(this.size - 1, Math.floor((v - this.box.x0) * this.sx)));
  }

  row(v) {
    return Math.max(0, Math.min(this.size - 1, Math.floor((v - this.box.y0) * this.sy)));
  }

  cell(a, b) {
    return this.row(b) * this.size + this.column(a);
  }

  /** The point nearest to (px, py) in screen metric (ax, ay scale data to pixels) within radius. */
  nearest(px, py, radiusX, radiusY, ax, ay) {
    const c0 = this.column(px - radiusX);
    const c1 = this.column(px + radiusX);
    const r0 = this.row(py - radiusY);
    const r1 = this.row(py + radiusY);
    let best = -1;
    let bestD = Infinity;
    const limit = (radiusX * ax) ** 2;
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const cell = r * this.size + c;
        for (let k = this.start[cell]; k < this.start[cell + 1]; k++) {
          const i = this.order[k];
          const d = ((this.x[i] - px) * ax) ** 2 + ((this.y[i] - py) * ay) ** 2;
          if (d < bestD && d <= limit) {
            bestD = d;
            best = i;
          }
        }
      }
    }
    return best;
  }
}

/** Positions of points inside the axis-aligned box (data units). */
export function inRectangle(x, y, box) {
  const found = [];
  const x0 = Math.min(box.x0, box.x1);
  const x1 = Math.max(box.x0, box.x1);
  const y0 = Math.min(box.y0, box.y1);
  const y1 = Math.max(box.y0, box.y1);
  for (let i = 0; i < x.length; i++) {
    if (x[i] >= x0 && x[i] <= x1 && y[i] >= y0 && y[i] <= y1) found.push(i);
  }
  return found;
}

/** Positions of points inside the polygon [[x, y], ...] (data units), even-odd rule. */
export function inPolygon(x, y, polygon) {
  if (polygon.length < 3) return [];
  const box = bounds(
    polygon.map((p) => p[0]),
    polygon.map((p) => p[1]),
  );
  const px = Float64Array.from(polygon, (p) => p[0]);
  const py = Float64Array.from(polygon, (p) => p[1]);
  const m = polygon.length;
  const found = [];
  for (let i = 0; i < x.length; i++) {
    const a = x[i];
    const b = y[i];
    if (a < box.x0 || a > box.x1 || b < box.y0 || b > box.y1) continue;
    let inside = false;
    for (let j = 0, k = m - 1; j < m; k = j++) {
      if (py[j] > b !== py[k] > b && a < ((px[k] - px[j]) * (b - py[j])) / (py[k] - py[j]) + px[j]) {
        inside = !inside;
      }
    }
    if (inside) found.push(i);
  }
  return found;
}
