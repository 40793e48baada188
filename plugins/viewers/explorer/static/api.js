// Talking to the explorer's HTTP API: JSON, the binary points format, and image URLs.

const MAGIC = 'RSPT';
const TYPES = { int32: Int32Array, float32: Float32Array, float64: Float64Array, uint8: Uint8Array };

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function enc(value) {
  return encodeURIComponent(value);
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) message = body.error;
  } catch (_) {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message);
}

/** Decode the binary points payload: magic, header length, JSON header, aligned typed arrays. */
export function decodePoints(buffer) {
  const view = new DataView(buffer);
  const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4));
  if (magic !== MAGIC) throw new ApiError(0, 'points payload has a bad magic number');
  const headerLength = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, headerLength)));
  const points = { ...header };
  for (const spec of header.arrays) {
    const Type = TYPES[spec.dtype];
    points[spec.name] = new Type(buffer, spec.offset, spec.count);
  }
  delete points.arrays;
  return points;
}

export class Api {
  async json(url, init) {
    const response = await fetch(url, init);
    if (!response.ok) throw await failure(response);
    return response.json();
  }

  projects() {
    return this.json('/api/projects');
  }

  project(id) {
    return this.json(`/api/projects/${enc(id)}`);
  }

  colormaps() {
    return this.json('/api/colormaps');
  }

  panels() {
    return this.json('/api/panels');
  }

  sample(project, index) {
    return this.json(`/api/projects/${enc(project)}/samples/${index}`);
  }

  samples(project, indices) {
    return this.json(`/api/projects/${enc(project)}/samples${query({ indices: indices.join(',') })}`);
  }

  async points(project, analysis, params, signal) {
    const url =
      `/api/projects/${enc(project)}/analyses/${enc(analysis)}` +
      query({ ...params, format: 'binary' });
    const response = await fetch(url, { signal });
    if (!response.ok) throw await failure(response);
    return decodePoints(await response.arrayBuffer());
  }

  imageUrl(project, index, version) {
    return `/api/projects/${enc(project)}/samples/${index}/image${query({ v: version })}`;
  }

  heatmapUrl(project, index, colormap, mode, version) {
    return (
      `/api/projects/${enc(project)}/samples/${index}/heatmap` +
      query({ colormap, mode, v: version })
    );
  }

  /** URL of the picture of sample ``index`` in a view mode (input, attribution or overlay). */
  sampleUrl(project, index, mode, colormap, version) {
    if (mode === 'input') return this.imageUrl(project, index, version);
    return this.heatmapUrl(project, index, colormap, mode, version);
  }

  /** A token sample's texts, relevance and colours in ``colormap``. */
  tokens(project, index, colormap) {
    return this.json(`/api/projects/${enc(project)}/samples/${index}/tokens${query({ colormap })}`);
  }

  /** The tokens with the highest mean relevance in one cluster. */
  tokenPrototype(project, analysis, params) {
    return this.json(
      `/api/projects/${enc(project)}/analyses/${enc(analysis)}/token-prototype${query(params)}`,
    );
  }

  prototypeUrl(project, analysis, params, version) {
    return (
      `/api/projects/${enc(project)}/analyses/${enc(analysis)}/prototype` +
      query({ ...params, v: version })
    );
  }

  colormapBarUrl(name) {
    return `/api/colormaps/${enc(name)}.png`;
  }
}
