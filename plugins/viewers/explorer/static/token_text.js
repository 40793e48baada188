// Token texts for token projects: every token a span whose background is its relevance in the
// colour map (symmetric, centred at 0: the server sends the colours), with a hover title giving
// the relevance. Modes: input = plain text, attribution = coloured, overlay = coloured + values.

function readableOn(hex) {
  const n = parseInt(hex.slice(1), 16);
  const luminance = (0.299 * ((n >> 16) & 255) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255)) / 255;
  return luminance > 0.55 ? '#111' : '#fff';
}

/** A ``<p class="token-text">`` for the ``/tokens`` document ``doc`` in view ``mode``. */
export function tokenText(doc, mode) {
  const text = document.createElement('p');
  text.className = 'token-text';
  text.dataset.mode = mode;
  doc.tokens.forEach((token, i) => {
    const span = document.createElement('span');
    span.className = 'token';
    span.textContent = token;
    if (doc.relevance) {
      const relevance = doc.relevance[i];
      span.dataset.relevance = String(relevance);
      span.title = `${token}: relevance ${relevance.toPrecision(3)}`;
      if (mode !== 'input') {
        span.style.backgroundColor = doc.colors[i];
        span.style.color = readableOn(doc.colors[i]);
      }
      if (mode === 'overlay') {
        const value = document.createElement('sub');
        value.className = 'token-value';
        value.textContent = relevance.toFixed(2);
        span.append(value);
      }
    }
    text.append(span, ' ');
  });
  return text;
}
