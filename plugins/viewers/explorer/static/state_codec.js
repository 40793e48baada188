// The explorer state in two portable forms: URL query parameters (share links, address bar) and
// an exported JSON document. Selections are written as compact index ranges ("3-9.12.20-21").

import { DEFAULT_STATE, sortedUnique } from './store.js';

export const DOCUMENT_FORMAT = 'relscope-explorer-state';
export const DOCUMENT_VERSION = 1;

// state key -> URL parameter name
const PARAMS = {
  project: 'project',
  analysis: 'analysis',
  category: 'category',
  clustering: 'clustering',
  embedding: 'embedding',
  xdim: 'x',
  ydim: 'y',
  colormap: 'colormap',
  mode: 'mode',
  colorBy: 'color',
  sampling: 'sampling',
  page: 'page',
  pageSize: 'per_page',
};
const INTEGER_KEYS = new Set(['xdim', 'ydim', 'page', 'pageSize']);
const CHOICES = {
  mode: ['input', 'attribution', 'overlay'],
  colorBy: ['cluster', 'label', 'prediction'],
  sampling: ['pixelated', 'smooth'],
};

/** "3-9.12" for [3..9, 12]; ``indices`` must be sorted and unique. */
export function encodeRanges(indices) {
  const parts = [];
  let i = 0;
  while (i < indices.length) {
    let j = i;
    while (j + 1 < indices.length && indices[j + 1] === indices[j] + 1) j++;
    parts.push(j > i ? `${indices[i]}-${indices[j]}` : `${indices[i]}`);
    i = j + 1;
  }
  return parts.join('.');
}

/** The sorted unique indices of a range string; throws on anything malformed. */
export function decodeRanges(text) {
  if (!text) return new Int32Array(0);
  const values = [];
  for (const part of text.split(/[.,]/)) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!match) throw new Error(`bad selection range ${JSON.stringify(part)}`);
    const start = Number(match[1]);
    const stop = match[2] === undefined ? start : Number(match[2]);
    if (stop < start || stop - start > 50_000_000) throw new Error(`bad selection range ${part}`);
    for (let v = start; v <= stop; v++) values.push(v);
  }
  return sortedUnique(values);
}

function checked(key, value) {
  if (INTEGER_KEYS.has(key)) {
    const number = Number(value);
    if (!Number.isInteger(number) || number < 0) throw new Error(`${key} must be an integer >= 0`);
    return number;
  }
  if (CHOICES[key] && !CHOICES[key].includes(value)) {
    throw new Error(`${key} must be one of ${CHOICES[key].join(', ')}`);
  }
  if (typeof value !== 'string') throw new Error(`${key} must be a string`);
  return value;
}

/** URL parameters for ``state``; the selection only when ``withSelection``. */
export function stateToParams(state, { withSelection = true } = {}) {
  const params = new URLSearchParams();
  for (const [key, name] of Object.entries(PARAMS)) {
    const value = state[key];
    if (value === null || value === undefined) continue;
    if (value === DEFAULT_STATE[key] && key !== 'project') continue;
    params.set(name, String(value));
  }
  if (withSelection && state.selection.length) params.set('sel', encodeRanges(state.selection));
  return params;
}

/** A state patch from URL parameters (unknown parameters ignored, malformed ones reported). */
export function paramsToState(params) {
  const patch = {};
  const problems = [];
  for (const [key, name] of Object.entries(PARAMS)) {
    if (!params.has(name)) continue;
    try {
      patch[key] = checked(key, params.get(name));
    } catch (error) {
      problems.push(error.message);
    }
  }
  if (params.has('sel')) {
    try {
      patch.selection = decodeRanges(params.get('sel'));
    } catch (error) {
      problems.push(error.message);
    }
  }
  return { patch, problems };
}

/** The exported JSON document of the whole selection state. */
export function stateToDocument(state, project) {
  const doc = { format: DOCUMENT_FORMAT, version: DOCUMENT_VERSION };
  doc.project = { id: state.project, name: project ? project.name : null };
  for (const key of Object.keys(PARAMS)) {
    if (key !== 'project') doc[key] = state[key];
  }
  doc.selection = Array.from(state.selection);
  return doc;
}

/** A state patch from an exported document; throws with a readable message when malformed. */
export function documentToState(doc, projects) {
  if (!doc || typeof doc !== 'object' || doc.format !== DOCUMENT_FORMAT) {
    throw new Error(`not a relscope explorer state (expected "format": "${DOCUMENT_FORMAT}")`);
  }
  if (doc.version !== DOCUMENT_VERSION) throw new Error(`unsupported state version ${doc.version}`);
  const wanted = doc.project || {};
  const project =
    projects.find((p) => wanted.name && p.name === wanted.name) ||
    projects.find((p) => String(p.id) === String(wanted.id));
  if (!project) throw new Error(`project ${JSON.stringify(wanted.name || wanted.id)} is not served here`);
  const patch = { project: String(project.id) };
  for (const key of Object.keys(PARAMS)) {
    if (key === 'project' || doc[key] === undefined || doc[key] === null) continue;
    patch[key] = checked(key, doc[key]);
  }
  if (!Array.isArray(doc.selection) || !doc.selection.every((i) => Number.isInteger(i) && i >= 0)) {
    throw new Error('"selection" must be a list of sample indices');
  }
  patch.selection = sortedUnique(doc.selection);
  return patch;
}
