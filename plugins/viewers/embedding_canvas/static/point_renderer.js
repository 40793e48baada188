// Draws up to millions of points with WebGL (one draw call per frame, attributes uploaded once per
// data set); falls back to a 2-D canvas when WebGL is unavailable. Coordinates stay in data units,
// the view transform is a uniform, so zooming and panning upload nothing.

// while the user zooms or pans, at most this many points are drawn (a random subset); the full
// set follows as soon as the interaction pauses
export const PREVIEW_POINTS = 200_000;

/** A fixed pseudo-random permutation of 0..n-1 (so the first k points are a random subset). */
function shuffled(n) {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let seed = 0x9e3779b9;
  for (let i = n - 1; i > 0; i--) {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    const j = seed % (i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

const VERTEX = `
attribute vec2 a_position;
attribute vec3 a_color;
attribute float a_selected;
uniform vec2 u_scale;
uniform vec2 u_offset;
uniform float u_size;
uniform float u_has_selection;
varying vec4 v_color;
void main() {
  float lifted = u_has_selection * a_selected;
  // one pass for all points: selected ones sit nearer, so the depth test keeps them on top
  gl_Position = vec4(a_position * u_scale + u_offset, 0.5 - lifted, 1.0);
  vec3 color = a_color;
  if (u_has_selection > 0.5 && a_selected < 0.5) {
    float grey = dot(color, vec3(0.299, 0.587, 0.114));
    v_color = vec4(mix(color, vec3(grey), 0.8), 0.35);
    gl_PointSize = u_size;
  } else {
    v_color = vec4(color, 0.92);
    gl_PointSize = u_has_selection > 0.5 ? u_size * 1.6 : u_size;
  }
}`;

const FRAGMENT = `
precision mediump float;
varying vec4 v_color;
void main() {
  vec2 d = gl_PointCoord - vec2(0.5);
  float r = dot(d, d);
  if (r > 0.25) discard;
  gl_FragColor = vec4(v_color.rgb, v_color.a * smoothstep(0.25, 0.15, r));
}`;

function compile(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
    throw new Error(`shader: ${gl.getShaderInfoLog(shader)}`);
  }
  return shader;
}

function parseCssColor(css) {
  const probe = document.createElement('canvas').getContext('2d');
  probe.fillStyle = css;
  const hex = probe.fillStyle; // normalised to #rrggbb or rgba()
  if (hex.startsWith('#')) {
    return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
  }
  const parts = hex.match(/[\d.]+/g) || [255, 255, 255];
  return parts.slice(0, 3).map((v) => Number(v) / 255);
}

export class WebGLPointRenderer {
  constructor(canvas) {
    const gl = canvas.getContext('webgl', {
      antialias: false,
      depth: true,
      preserveDrawingBuffer: true,
      premultipliedAlpha: false,
    });
    if (!gl) throw new Error('WebGL is not available');
    this.kind = 'webgl';
    this.canvas = canvas;
    this.gl = gl;
    const program = gl.createProgram();
    gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT));
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
      throw new Error(`program: ${gl.getProgramInfoLog(program)}`);
    }
    this.program = program;
    this.attributes = {
      position: gl.getAttribLocation(program, 'a_position'),
      color: gl.getAttribLocation(program, 'a_color'),
      selected: gl.getAttribLocation(program, 'a_selected'),
    };
    this.uniforms = Object.fromEntries(
      ['u_scale', 'u_offset', 'u_size', 'u_has_selection'].map((name) => [
        name,
        gl.getUniformLocation(program, name),
      ]),
    );
    this.buffers = {
      position: gl.createBuffer(),
      color: gl.createBuffer(),
      selected: gl.createBuffer(),
    };
    this.count = 0;
    this.maxPointSize = gl.getParameter(gl.ALIASED_POINT_SIZE_RANGE)[1];
  }

  // Large sets are uploaded in a shuffled order, so drawing the first PREVIEW_POINTS vertices
  // draws a random subset; every per-point buffer uses that same order.
  setPositions(x, y) {
    const gl = this.gl;
    const n = x.length;
    this.order = n > PREVIEW_POINTS ? shuffled(n) : null;
    const interleaved = new Float32Array(n * 2);
    for (let k = 0; k < n; k++) {
      const i = this.order ? this.order[k] : k;
      interleaved[2 * k] = x[i];
      interleaved[2 * k + 1] = y[i];
    }
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.position);
    gl.bufferData(gl.ARRAY_BUFFER, interleaved, gl.STATIC_DRAW);
    this.count = n;
  }

  setColors(rgb) {
    const gl = this.gl;
    let data = rgb;
    if (this.order) {
      data = new Uint8Array(rgb.length);
      for (let k = 0; k < this.order.length; k++) {
        const i = 3 * this.order[k];
        data[3 * k] = rgb[i];
        data[3 * k + 1] = rgb[i + 1];
        data[3 * k + 2] = rgb[i + 2];
      }
    }
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.color);
    gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
  }

  setSelection(mask) {
    const gl = this.gl;
    let data = mask;
    if (this.order) {
      data = new Uint8Array(mask.length);
      for (let k = 0; k < this.order.length; k++) data[k] = mask[this.order[k]];
    }
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.selected);
    gl.bufferData(gl.ARRAY_BUFFER, data, gl.DYNAMIC_DRAW);
    this.hasSelection = mask.indexOf(1) >= 0;
  }

  /** Draw with ``view`` = {ax, bx, ay, by} mapping data to canvas pixels: px = a * v + b;
   * ``preview`` draws only a random subset of a large set (while zooming or panning). */
  draw(view, size, background, preview = false) {
    const gl = this.gl;
    const { width, height } = this.canvas;
    gl.viewport(0, 0, width, height);
    const [r, g, b] = parseCssColor(background);
    gl.clearColor(r, g, b, 1);
    gl.clearDepth(1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    if (!this.count) return;
    gl.useProgram(this.program);
    gl.enable(gl.DEPTH_TEST);
    gl.depthFunc(gl.LEQUAL);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
    const bind = (buffer, location, components, type, normalized) => {
      gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
      gl.enableVertexAttribArray(location);
      gl.vertexAttribPointer(location, components, type, normalized, 0, 0);
    };
    bind(this.buffers.position, this.attributes.position, 2, gl.FLOAT, false);
    bind(this.buffers.color, this.attributes.color, 3, gl.UNSIGNED_BYTE, true);
    bind(this.buffers.selected, this.attributes.selected, 1, gl.UNSIGNED_BYTE, false);
    const u = this.uniforms;
    gl.uniform2f(u.u_scale, (2 * view.ax) / width, (-2 * view.ay) / height);
    gl.uniform2f(u.u_offset, (2 * view.bx) / width - 1, 1 - (2 * view.by) / height);
    gl.uniform1f(u.u_size, Math.min(size, this.maxPointSize / 1.6));
    gl.uniform1f(u.u_has_selection, this.hasSelection ? 1 : 0);
    gl.drawArrays(gl.POINTS, 0, preview ? Math.min(this.count, PREVIEW_POINTS) : this.count);
  }
}

/** The same interface on a 2-D canvas, for browsers without WebGL (slower at large counts). */
export class Canvas2DPointRenderer {
  constructor(canvas) {
    this.kind = '2d';
    this.canvas = canvas;
    this.context = canvas.getContext('2d');
    this.count = 0;
  }

  setPositions(x, y) {
    this.x = x;
    this.y = y;
    this.count = x.length;
  }

  setColors(rgb) {
    this.rgb = rgb;
  }

  setSelection(mask) {
    this.mask = mask;
    this.hasSelection = mask.indexOf(1) >= 0;
  }

  draw(view, size, background) {
    const c = this.context;
    const { width, height } = this.canvas;
    c.fillStyle = background;
    c.fillRect(0, 0, width, height);
    if (!this.count) return;
    const half = size / 2;
    for (const pass of [0, 1]) {
      for (let i = 0; i < this.count; i++) {
        const selected = this.mask && this.mask[i];
        if (this.hasSelection ? (pass === 1) !== Boolean(selected) : pass === 1) continue;
        const r = this.rgb[3 * i];
        const g = this.rgb[3 * i + 1];
        const b = this.rgb[3 * i + 2];
        const dim = this.hasSelection && !selected;
        c.fillStyle = dim ? `rgba(${r}, ${g}, ${b}, 0.3)` : `rgb(${r}, ${g}, ${b})`;
        const s = this.hasSelection && selected ? size * 1.6 : size;
        const px = view.ax * this.x[i] + view.bx;
        const py = view.ay * this.y[i] + view.by;
        c.fillRect(px - half, py - half, s, s);
      }
    }
  }
}

/** The best renderer this browser supports for ``canvas``. */
export function createRenderer(canvas) {
  try {
    return new WebGLPointRenderer(canvas);
  } catch (error) {
    console.warn('relscope: falling back to a 2-D canvas:', error.message);
    return new Canvas2DPointRenderer(canvas);
  }
}
