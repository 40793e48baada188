// Embedding canvas: the points of the current embedding, coloured by cluster, label or prediction.
// Wheel zooms at the cursor, drag selects (rectangle or lasso; shift adds, alt removes), the pan
// tool / middle button / space-drag pans; hovering a point previews its image.

import { PointGrid, bounds, inPolygon, inRectangle } from './point_index.js';
import { createRenderer } from './point_renderer.js';
import { tokenText } from '/static/explorer/token_text.js';

const PAD = 18; // CSS pixels around the data
const HOVER_RADIUS = 10; // CSS pixels
const COLOR_BY = ['cluster', 'label', 'prediction'];
const SETTLE_MS = 150; // after the last zoom or pan step, draw every point again

function parseIndexList(text) {
  const values = [];
  for (const part of text.split(/[\s,;]+/).filter(Boolean)) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!match) throw new Error(`"${part}" is not an index or a range like 10-20`);
    const start = Number(match[1]);
    const stop = match[2] === undefined ? start : Number(match[2]);
    if (stop < start || stop - start > 5_000_000) throw new Error(`bad range "${part}"`);
    for (let v = start; v <= stop; v++) values.push(v);
  }
  return values;
}

class EmbeddingCanvas {
  constructor(element, { store, api, palette, shortcuts }) {
    this.store = store;
    this.api = api;
    this.palette = palette;
    element.innerHTML = `
      <div class="canvas-toolbar">
        <div class="segmented tools" role="radiogroup" aria-label="Canvas tool">
          <button type="button" data-tool="box" title="Rectangle select (B)">Box</button>
          <button type="button" data-tool="lasso" title="Lasso select (L)">Lasso</button>
          <button type="button" data-tool="pan" title="Pan (H)">Pan</button>
        </div>
        <label class="color-by">Colour by
          <select name="colorBy">${COLOR_BY.map((v) => `<option value="${v}">${v}</option>`).join('')}</select>
        </label>
        <form class="index-search" role="search">
          <input type="search" name="indices" placeholder="Select indices: 3, 10-20  (/)"
            aria-label="select samples by index" autocomplete="off">
        </form>
        <button type="button" class="reset-view" title="Reset the view (R)">Reset view</button>
        <span class="point-count muted"></span>
      </div>
      <div class="canvas-stage">
        <canvas class="points-layer"></canvas>
        <canvas class="overlay-layer"></canvas>
        <div class="legend" hidden></div>
        <div class="hover-card" hidden><div class="hover-images"></div><div class="hover-text"></div></div>
        <div class="canvas-note muted" hidden></div>
      </div>`;
    this.stage = element.querySelector('.canvas-stage');
    this.glCanvas = element.querySelector('.points-layer');
    this.overlay = element.querySelector('.overlay-layer');
    this.legend = element.querySelector('.legend');
    this.card = element.querySelector('.hover-card');
    this.note = element.querySelector('.canvas-note');
    this.countLabel = element.querySelector('.point-count');
    this.colorSelect = element.querySelector('select[name="colorBy"]');
    this.searchForm = element.querySelector('.index-search');
    this.searchInput = this.searchForm.querySelector('input');
    this.toolButtons = [...element.querySelectorAll('[data-tool]')];
    this.renderer = createRenderer(this.glCanvas);
    this.stage.dataset.renderer = this.renderer.kind;

    this.tool = 'box';
    this.view = { k: 1, tx: 0, ty: 0 }; // zoom and pan over the fitted base transform
    this.drag = null;
    this.spaceDown = false;
    this.hovered = -1;
    this.points = null;
    this.frame = 0;

    this.bindEvents(shortcuts);
    new ResizeObserver(() => this.resize()).observe(this.stage);
    this.resize();
    this.setTool('box');
    window.relscope = Object.assign(window.relscope || {}, { embedding: this });
  }

  // ---- data --------------------------------------------------------------------------------

  setPoints(points) {
    this.points = points;
    this.hideCard();
    this.note.hidden = Boolean(points);
    if (!points) {
      this.note.textContent = 'No points to show: this project has no analysis for this choice.';
      this.renderer.setPositions(new Float32Array(0), new Float32Array(0));
      this.countLabel.textContent = '';
      this.stage.dataset.points = '0';
      this.requestDraw();
      return;
    }
    this.box = bounds(points.x, points.y);
    this.grid = new PointGrid(points.x, points.y, this.box);
    this.renderer.setPositions(points.x, points.y);
    this.view = { k: 1, tx: 0, ty: 0 };
    this.updateColors();
    this.updateSelection();
    this.countLabel.textContent = `${points.count.toLocaleString()} points`;
    this.stage.dataset.points = String(points.count);
  }

  colorIds() {
    const p = this.points;
    const by = this.store.state.colorBy;
    if (by === 'label') return p.label;
    if (by === 'prediction') return p.prediction;
    return p.cluster;
  }

  updateColors() {
    if (!this.points) return;
    if (this.store.scores) {
      this.updateScoreColors(this.store.scores);
      return;
    }
    this.stage.dataset.colorBy = this.store.state.colorBy;
    const ids = this.colorIds();
    const rgb = new Uint8Array(ids.length * 3);
    const cache = new Map();
    for (let i = 0; i < ids.length; i++) {
      let color = cache.get(ids[i]);
      if (!color) {
        color = this.palette.categoryRgb(ids[i]);
        cache.set(ids[i], color);
      }
      rgb[3 * i] = color[0];
      rgb[3 * i + 1] = color[1];
      rgb[3 * i + 2] = color[2];
    }
    this.renderer.setColors(rgb);
    this.colorSelect.value = this.store.state.colorBy;
    this.renderLegend([...cache.keys()].sort((a, b) => a - b));
    this.requestDraw();
  }

  /** Colour by a panel's per-sample scores (``store.scores``: ``{label, table}``, table indexed
   * by dataset index, NaN where unknown): blue (negative) - white - red (positive), grey unknown. */
  updateScoreColors(scores) {
    const p = this.points;
    const values = new Float64Array(p.count);
    let largest = 0;
    for (let i = 0; i < p.count; i++) {
      const index = p.index[i];
      values[i] = index < scores.table.length ? scores.table[index] : NaN;
      if (Math.abs(values[i]) > largest) largest = Math.abs(values[i]);
    }
    const rgb = new Uint8Array(p.count * 3);
    for (let i = 0; i < p.count; i++) {
      let color = [160, 160, 160];
      if (!Number.isNaN(values[i])) {
        const t = largest > 0 ? values[i] / largest : 0;
        const fade = Math.round(235 * (1 - Math.abs(t)));
        color = t >= 0 ? [235, fade, fade] : [fade, fade, 235];
      }
      rgb.set(color, 3 * i);
    }
    this.renderer.setColors(rgb);
    this.colorSelect.value = '';
    this.stage.dataset.colorBy = 'scores';
    const row = document.createElement('div');
    row.textContent = `${scores.label}: ±${largest.toPrecision(3)}`;
    this.legend.replaceChildren(row);
    this.legend.hidden = false;
    this.requestDraw();
  }

  renderLegend(ids) {
    const by = this.store.state.colorBy;
    if (by === 'cluster' || !ids.length) {
      this.legend.hidden = true;
      return;
    }
    this.legend.replaceChildren(
      ...ids.slice(0, 40).map((id) => {
        const row = document.createElement('div');
        row.innerHTML = '<span class="swatch"></span><span></span>';
        row.firstChild.style.background = this.palette.categoryCss(id);
        row.lastChild.textContent = id < 0 ? 'unknown' : this.store.labelName(id);
        return row;
      }),
    );
    this.legend.hidden = false;
  }

  updateSelection() {
    if (!this.points) return;
    const mask = this.store.mask;
    this.renderer.setSelection(
      mask.length === this.points.count ? mask : new Uint8Array(this.points.count),
    );
    this.requestDraw();
  }

  // ---- transforms --------------------------------------------------------------------------

  /** Data -> CSS pixel transform {ax, bx, ay, by} for the current zoom and pan. */
  transform() {
    const w = this.width;
    const h = this.height;
    const b = this.box || { x0: -1, x1: 1, y0: -1, y1: 1 };
    const sx = Math.max(1, w - 2 * PAD) / (b.x1 - b.x0);
    const sy = Math.max(1, h - 2 * PAD) / (b.y1 - b.y0);
    const { k, tx, ty } = this.view;
    return {
      ax: k * sx,
      bx: k * (PAD - b.x0 * sx) + tx,
      ay: -k * sy,
      by: k * (h - PAD + b.y0 * sy) + ty,
    };
  }

  toData(px, py) {
    const t = this.transform();
    return [(px - t.bx) / t.ax, (py - t.by) / t.ay];
  }

  /** CSS pixel position (relative to the canvas) of point ``position``; for tests and overlays. */
  screenOf(position) {
    const t = this.transform();
    return [t.ax * this.points.x[position] + t.bx, t.ay * this.points.y[position] + t.by];
  }

  zoomAt(px, py, factor) {
    const v = this.view;
    const k = Math.max(0.2, Math.min(v.k * factor, 5000));
    const real = k / v.k;
    this.view = { k, tx: px - real * (px - v.tx), ty: py - real * (py - v.ty) };
    this.interacting();
  }

  /** Zoom or pan in progress: draw previews now, the full set once it pauses. */
  interacting() {
    this.previewUntil = performance.now() + SETTLE_MS;
    clearTimeout(this.settle);
    this.settle = setTimeout(() => this.requestDraw(), SETTLE_MS + 10);
    this.requestDraw();
  }

  resetView() {
    this.view = { k: 1, tx: 0, ty: 0 };
    this.requestDraw();
  }

  resize() {
    const rect = this.stage.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.width = Math.max(1, rect.width);
    this.height = Math.max(1, rect.height);
    for (const canvas of [this.glCanvas, this.overlay]) {
      canvas.width = Math.round(this.width * dpr);
      canvas.height = Math.round(this.height * dpr);
    }
    this.requestDraw();
  }

  // ---- drawing -----------------------------------------------------------------------------

  requestDraw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  pointSize() {
    const n = this.points ? this.points.count : 0;
    const base = n > 300000 ? 2 : n > 50000 ? 3 : n > 5000 ? 4.5 : n > 500 ? 6 : 9;
    return base * Math.min(3, Math.sqrt(this.view.k));
  }

  draw() {
    const dpr = window.devicePixelRatio || 1;
    const t = this.transform();
    const view = { ax: t.ax * dpr, bx: t.bx * dpr, ay: t.ay * dpr, by: t.by * dpr };
    const background = getComputedStyle(this.stage).getPropertyValue('--canvas-bg').trim() || '#fff';
    const preview = performance.now() < (this.previewUntil || 0);
    this.renderer.draw(view, this.pointSize() * dpr, background, preview);
    this.drawOverlay();
    if (this.points) {
      this.stage.dataset.drawn = this.points.key;
      // time of the first frame with points, for benchmarks (ms since navigation start)
      if (this.firstPaint === undefined) this.firstPaint = performance.now();
    }
  }

  drawOverlay() {
    const dpr = window.devicePixelRatio || 1;
    const c = this.overlay.getContext('2d');
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.clearRect(0, 0, this.width, this.height);
    const accent = getComputedStyle(this.stage).getPropertyValue('--accent').trim() || '#36c';
    const hover = this.hovered >= 0 ? this.hovered : this.store.hover;
    if (this.points && hover >= 0 && hover < this.points.count) {
      const [x, y] = this.screenOf(hover);
      c.strokeStyle = accent;
      c.lineWidth = 2;
      c.beginPath();
      c.arc(x, y, this.pointSize() / 2 + 5, 0, 2 * Math.PI);
      c.stroke();
    }
    const d = this.drag;
    if (!d || d.kind === 'pan') return;
    c.strokeStyle = accent;
    c.fillStyle = 'rgba(100, 140, 255, 0.12)';
    c.lineWidth = 1.5;
    c.setLineDash([5, 4]);
    c.beginPath();
    if (d.kind === 'box') {
      c.rect(d.x0, d.y0, d.x1 - d.x0, d.y1 - d.y0);
    } else {
      d.path.forEach(([x, y], i) => (i ? c.lineTo(x, y) : c.moveTo(x, y)));
      c.closePath();
    }
    c.fill();
    c.stroke();
    c.setLineDash([]);
  }

  // ---- interaction -------------------------------------------------------------------------

  setTool(tool) {
    this.tool = tool;
    for (const button of this.toolButtons) {
      button.setAttribute('aria-pressed', String(button.dataset.tool === tool));
    }
    this.stage.dataset.tool = tool;
  }

  local(event) {
    const rect = this.overlay.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  selectMode(event) {
    if (event.altKey) return 'remove';
    return event.shiftKey ? 'add' : 'replace';
  }

  bindEvents(shortcuts) {
    const target = this.overlay;
    target.addEventListener('wheel', (event) => {
      event.preventDefault();
      const [x, y] = this.local(event);
      const scale = event.deltaMode === 1 ? 0.05 : 0.0015;
      this.zoomAt(x, y, Math.exp(-event.deltaY * scale));
    }, { passive: false });

    target.addEventListener('pointerdown', (event) => {
      if (!this.points) return;
      const [x, y] = this.local(event);
      target.setPointerCapture(event.pointerId);
      const pan = this.tool === 'pan' || event.button === 1 || this.spaceDown;
      const mode = this.selectMode(event);
      if (pan) this.drag = { kind: 'pan', x, y, tx: this.view.tx, ty: this.view.ty, moved: 0 };
      else if (this.tool === 'lasso') this.drag = { kind: 'lasso', path: [[x, y]], mode, moved: 0 };
      else this.drag = { kind: 'box', x0: x, y0: y, x1: x, y1: y, mode, moved: 0 };
      this.drag.start = [x, y];
      this.hideCard();
    });

    target.addEventListener('pointermove', (event) => {
      const [x, y] = this.local(event);
      const d = this.drag;
      if (!d) {
        this.hoverAt(x, y, event);
        return;
      }
      d.moved = Math.max(d.moved, Math.hypot(x - d.start[0], y - d.start[1]));
      if (d.kind === 'pan') {
        this.view = { ...this.view, tx: d.tx + x - d.x, ty: d.ty + y - d.y };
        this.interacting();
      } else if (d.kind === 'box') {
        d.x1 = x;
        d.y1 = y;
        this.drawOverlay();
      } else {
        const last = d.path[d.path.length - 1];
        if (Math.hypot(x - last[0], y - last[1]) > 2) d.path.push([x, y]);
        this.drawOverlay();
      }
    });

    const finish = (event) => {
      const d = this.drag;
      if (!d) return;
      this.drag = null;
      const [x, y] = this.local(event);
      if (d.moved < 4 && d.kind !== 'pan') this.clickAt(x, y, d.mode);
      else if (d.kind === 'box') this.selectBox(d);
      else if (d.kind === 'lasso') this.selectLasso(d);
      this.drawOverlay();
    };
    target.addEventListener('pointerup', finish);
    target.addEventListener('pointercancel', () => {
      this.drag = null;
      this.drawOverlay();
    });
    target.addEventListener('pointerleave', () => {
      if (!this.drag) this.hoverAt(-1, -1);
    });
    target.addEventListener('dblclick', () => this.resetView());

    for (const button of this.toolButtons) {
      button.addEventListener('click', () => this.setTool(button.dataset.tool));
    }
    this.colorSelect.addEventListener('change', () => {
      if (this.store.scores) {
        this.store.scores = null; // a panel's score colouring ends when a colouring is chosen
        this.store.emit('scores', null);
      }
      this.store.set({ colorBy: this.colorSelect.value });
    });
    const reset = this.stage.parentElement.querySelector('.reset-view');
    reset.addEventListener('click', () => this.resetView());
    this.searchForm.addEventListener('submit', (event) => {
      event.preventDefault();
      this.selectTyped(false);
    });
    this.searchInput.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && event.shiftKey) {
        event.preventDefault();
        this.selectTyped(true);
      }
    });
    document.addEventListener('keydown', (event) => {
      if (event.key === ' ' && event.target === document.body) this.spaceDown = true;
    });
    document.addEventListener('keyup', (event) => {
      if (event.key === ' ') this.spaceDown = false;
    });

    const store = this.store;
    store.on('points', (points) => this.setPoints(points));
    store.on('selection', () => this.updateSelection());
    store.on('hover', () => this.drawOverlay());
    store.on('state', ({ changed }) => changed.has('colorBy') && this.updateColors());
    store.on('project', () => this.points && this.updateColors());
    store.on('scores', () => this.updateColors());
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => this.requestDraw());

    shortcuts.add('b', 'Rectangle select tool', () => this.setTool('box'));
    shortcuts.add('l', 'Lasso select tool', () => this.setTool('lasso'));
    shortcuts.add('h', 'Pan tool', () => this.setTool('pan'));
    shortcuts.add('r', 'Reset the view', () => this.resetView());
    shortcuts.add('+', 'Zoom in', () => this.zoomAt(this.width / 2, this.height / 2, 1.4));
    shortcuts.add('=', '', () => this.zoomAt(this.width / 2, this.height / 2, 1.4));
    shortcuts.add('-', 'Zoom out', () => this.zoomAt(this.width / 2, this.height / 2, 1 / 1.4));
    shortcuts.add('Escape', 'Clear the selection', () => store.clearSelection());
    shortcuts.add('a', 'Select all points', () => {
      if (this.points) store.selectPositions(Array.from({ length: this.points.count }, (_, i) => i));
    });
    shortcuts.add('i', 'Invert the selection', () => {
      if (!this.points) return;
      const inverse = [];
      for (let i = 0; i < this.points.count; i++) if (!store.mask[i]) inverse.push(i);
      store.selectPositions(inverse);
    });
    shortcuts.add('v', 'Colour points by cluster / label / prediction', () => {
      const next = COLOR_BY[(COLOR_BY.indexOf(store.state.colorBy) + 1) % COLOR_BY.length];
      store.set({ colorBy: next });
    });
    shortcuts.add('/', 'Search samples by index', () => this.searchInput.focus());
  }

  selectTyped(add) {
    let indices;
    try {
      indices = parseIndexList(this.searchInput.value);
    } catch (error) {
      this.store.message(error.message, 'error');
      return;
    }
    if (!indices.length) return;
    const missing = this.store.selectIndices(indices, add ? 'add' : 'replace');
    if (missing.length) {
      const shown = missing.slice(0, 8).join(', ') + (missing.length > 8 ? ', …' : '');
      this.store.message(`${missing.length} indices are not in this category: ${shown}`, 'error');
    }
  }

  selectBox(d) {
    const [xa, ya] = this.toData(d.x0, d.y0);
    const [xb, yb] = this.toData(d.x1, d.y1);
    const found = inRectangle(this.points.x, this.points.y, { x0: xa, x1: xb, y0: ya, y1: yb });
    this.store.selectPositions(found, d.mode);
  }

  selectLasso(d) {
    const polygon = d.path.map(([x, y]) => this.toData(x, y));
    this.store.selectPositions(inPolygon(this.points.x, this.points.y, polygon), d.mode);
  }

  pick(x, y) {
    if (!this.points || !this.grid || x < 0) return -1;
    const t = this.transform();
    const [dx, dy] = this.toData(x, y);
    const radius = HOVER_RADIUS + this.pointSize() / 2;
    return this.grid.nearest(dx, dy, radius / t.ax, radius / -t.ay, t.ax, -t.ay);
  }

  clickAt(x, y, mode) {
    const hit = this.pick(x, y);
    if (hit >= 0) {
      const toggleOff = mode === 'add' && this.store.mask[hit];
      this.store.selectPositions([hit], toggleOff ? 'remove' : mode);
    } else if (mode === 'replace') {
      this.store.clearSelection();
    }
  }

  hoverAt(x, y) {
    const hit = this.pick(x, y);
    if (hit !== this.hovered) {
      this.hovered = hit;
      this.store.setHover(hit);
      this.drawOverlay();
      if (hit >= 0) this.showCard(hit, x, y);
      else this.hideCard();
    } else if (hit >= 0) {
      this.placeCard(x, y);
    }
  }

  showCard(position, x, y) {
    const store = this.store;
    const s = store.state;
    const p = this.points;
    const index = p.index[position];
    const version = store.project && store.project.version;
    const images = this.card.querySelector('.hover-images');
    if (store.project && store.project.data_type === 'tokens') {
      // a token project previews the text (coloured unless in input mode)
      images.replaceChildren();
      const mode = store.project.has_attributions ? s.mode : 'input';
      this.api
        .tokens(s.project, index, s.colormap)
        .then((doc) => {
          if (this.card.dataset.index === String(index)) images.replaceChildren(tokenText(doc, mode));
        })
        .catch(() => images.replaceChildren());
    }
    const urls = store.project && store.project.data_type === 'tokens' ? [] : [this.api.imageUrl(s.project, index, version)];
    if (urls.length && store.project.has_attributions && s.mode !== 'input') {
      urls.push(this.api.sampleUrl(s.project, index, s.mode, s.colormap, version));
    }
    if (urls.length) images.replaceChildren(
      ...urls.map((url) => {
        const img = document.createElement('img');
        img.className = 'sample-image';
        img.src = url;
        img.alt = `sample ${index}`;
        return img;
      }),
    );
    const label = store.labelName(p.label[position]);
    const predicted = p.prediction[position];
    const cluster = p.cluster[position];
    this.card.querySelector('.hover-text').textContent =
      `#${index} · ${label}` +
      (predicted >= 0 ? ` → ${store.labelName(predicted)}` : '') +
      ` · ${cluster < 0 ? 'noise' : `cluster ${cluster}`}`;
    this.card.dataset.index = String(index);
    this.card.hidden = false;
    this.placeCard(x, y);
  }

  placeCard(x, y) {
    const w = this.card.offsetWidth;
    const h = this.card.offsetHeight;
    const left = x + 16 + w > this.width ? x - 16 - w : x + 16;
    const top = Math.min(Math.max(0, y - h / 2), this.height - h);
    this.card.style.transform = `translate(${Math.round(left)}px, ${Math.round(top)}px)`;
  }

  hideCard() {
    this.card.hidden = true;
  }
}

export function mount(element, context) {
  return new EmbeddingCanvas(element, context);
}
