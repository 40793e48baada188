// The explorer's front-end state store: the view state (project, analysis, colour map, mode, ...),
// the loaded data (projects, project details, points) and the selection, with change events that
// panels subscribe to. Panels never talk to each other directly, only through this store.

export const DEFAULT_STATE = Object.freeze({
  project: null, // project id (string)
  analysis: null, // analysis method name
  category: null, // category id (word_net_id)
  clustering: null,
  embedding: null,
  xdim: 0,
  ydim: 1,
  colormap: null,
  mode: 'attribution', // input | attribution | overlay
  colorBy: 'cluster', // cluster | label | prediction
  sampling: 'pixelated', // pixelated | smooth
  page: 0,
  pageSize: 20,
  selection: new Int32Array(0), // sorted dataset indices
});

function same(a, b) {
  if (a === b) return true;
  if (a instanceof Int32Array && b instanceof Int32Array) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  return false;
}

/** Sorted, de-duplicated Int32Array of the given integers. */
export function sortedUnique(values) {
  const array = Int32Array.from(values);
  array.sort();
  let n = 0;
  for (let i = 0; i < array.length; i++) {
    if (i === 0 || array[i] !== array[i - 1]) array[n++] = array[i];
  }
  return array.slice(0, n);
}

export class Store {
  constructor() {
    this.state = { ...DEFAULT_STATE };
    this.projects = []; // [{id, name, model, dataset}]
    this.project = null; // details of the current project
    this.colormaps = []; // [{name, description}]
    this.points = null; // {count, index, cluster, label, prediction, x, y, eigenvalues, ...}
    this.mask = new Uint8Array(0); // per point: 1 when selected
    this.hover = -1; // hovered point position
    this.listeners = new Map();
  }

  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, []);
    this.listeners.get(event).push(fn);
    return () => {
      const list = this.listeners.get(event);
      list.splice(list.indexOf(fn), 1);
    };
  }

  emit(event, detail) {
    for (const fn of [...(this.listeners.get(event) || [])]) {
      try {
        fn(detail);
      } catch (error) {
        console.error(`relscope: ${event} listener failed`, error);
      }
    }
  }

  /** Update state keys; emits 'state' with the set of keys that really changed. */
  set(patch) {
    const changed = new Set();
    for (const [key, value] of Object.entries(patch)) {
      if (!(key in DEFAULT_STATE)) continue;
      if (!same(this.state[key], value)) {
        this.state[key] = value;
        changed.add(key);
      }
    }
    if (changed.has('selection')) this.rebuildMask();
    if (changed.size) this.emit('state', { changed });
    if (changed.has('selection')) this.emit('selection', this.state.selection);
    return changed;
  }

  /** Install freshly loaded points; the selection keeps only indices that are among them. */
  setPoints(points) {
    this.points = points;
    this.hover = -1;
    if (points) {
      let max = -1;
      for (let i = 0; i < points.count; i++) if (points.index[i] > max) max = points.index[i];
      const positionOf = new Int32Array(max + 1).fill(-1);
      for (let i = 0; i < points.count; i++) positionOf[points.index[i]] = i;
      points.positionOf = positionOf;
    }
    const kept = this.state.selection.filter((i) => this.positionOf(i) >= 0);
    this.rebuildMask(kept);
    this.emit('points', points);
    if (kept.length !== this.state.selection.length) this.set({ selection: kept, page: 0 });
    else this.emit('selection', this.state.selection);
  }

  /** The position of dataset index ``index`` among the current points, or -1. */
  positionOf(index) {
    const table = this.points && this.points.positionOf;
    if (!table || index < 0 || index >= table.length) return -1;
    return table[index];
  }

  rebuildMask(selection = this.state.selection) {
    const count = this.points ? this.points.count : 0;
    this.mask = new Uint8Array(count);
    for (const index of selection) {
      const position = this.positionOf(index);
      if (position >= 0) this.mask[position] = 1;
    }
  }

  /** Select point positions: mode 'replace' (default), 'add' or 'remove'. */
  selectPositions(positions, mode = 'replace') {
    if (!this.points) return;
    const mask = mode === 'replace' ? new Uint8Array(this.points.count) : this.mask.slice();
    const value = mode === 'remove' ? 0 : 1;
    for (const p of positions) if (p >= 0 && p < mask.length) mask[p] = value;
    const chosen = [];
    for (let i = 0; i < mask.length; i++) if (mask[i]) chosen.push(this.points.index[i]);
    this.set({ selection: sortedUnique(chosen), page: 0 });
  }

  /** Select dataset indices (those not among the current points are ignored and returned). */
  selectIndices(indices, mode = 'replace') {
    const positions = [];
    const missing = [];
    for (const index of indices) {
      const position = this.positionOf(index);
      if (position >= 0) positions.push(position);
      else missing.push(index);
    }
    this.selectPositions(positions, mode);
    return missing;
  }

  clearSelection() {
    this.set({ selection: new Int32Array(0), page: 0 });
  }

  get selectedCount() {
    return this.state.selection.length;
  }

  setHover(position) {
    if (position === this.hover) return;
    this.hover = position;
    this.emit('hover', position);
  }

  /** Label-map entry of class ``index`` of the current project (or undefined). */
  labelEntry(index) {
    const labels = this.project ? this.project.labels : [];
    return labels.find((entry) => entry.index === index);
  }

  labelName(index) {
    if (index < 0) return 'none';
    const entry = this.labelEntry(index);
    return entry ? entry.name : String(index);
  }

  /** The current analysis description from the project details. */
  currentAnalysis() {
    if (!this.project) return null;
    return this.project.analyses.find((a) => a.method === this.state.analysis) || null;
  }

  message(text, kind = 'info') {
    this.emit('message', { text, kind });
  }
}
