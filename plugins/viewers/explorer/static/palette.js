// Categorical colours for clusters, labels and predictions: golden-angle hues, so neighbouring ids
// differ strongly; id -1 (noise, unknown) is grey. Shared by the canvas, cluster list and legends.

export const NOISE_RGB = [138, 143, 152];

function hslToRgb(h, s, l) {
  const k = (n) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [Math.round(255 * f(0)), Math.round(255 * f(8)), Math.round(255 * f(4))];
}

/** [r, g, b] (0-255) of category ``id``. */
export function categoryRgb(id) {
  if (id < 0) return NOISE_RGB;
  const hue = (id * 137.508 + 210) % 360;
  const lightness = id % 2 ? 0.6 : 0.5;
  return hslToRgb(hue, 0.68, lightness);
}

/** CSS colour of category ``id``. */
export function categoryCss(id) {
  const [r, g, b] = categoryRgb(id);
  return `rgb(${r}, ${g}, ${b})`;
}

/** Palette slot for a category id in a 256-entry texture: 0 is noise, ids wrap over 1..255. */
export function paletteSlot(id) {
  return id < 0 ? 0 : 1 + (id % 255);
}

/** RGBA bytes (256 x 4) of the palette texture matching ``paletteSlot``. */
export function paletteTexture() {
  const bytes = new Uint8Array(256 * 4);
  for (let slot = 0; slot < 256; slot++) {
    const [r, g, b] = slot === 0 ? NOISE_RGB : categoryRgb(slot - 1);
    bytes.set([r, g, b, 255], slot * 4);
  }
  return bytes;
}
