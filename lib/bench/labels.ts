/**
 * Text labels that never overlap: each label is tried at a ring of positions around its anchor,
 * nearest first, and takes the first whose box stays inside the drawing and clear of every box
 * placed before it (and of the given obstacles). A label with no free position is left out rather
 * than drawn over another one.
 */

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Width of `text` in a sans-serif font of `fontSize` px, on the generous side (digits and lower case average ~0.55 em). */
export function estimateTextWidth(text: string, fontSize: number): number {
  return Math.ceil(text.length * fontSize * 0.62) + 2;
}

export function boxesOverlap(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

export interface PlacedLabel {
  text: string;
  /** The text's box; draw with text-anchor start at (box.x, box.y + baseline). */
  box: Box;
  /** Index of the anchor this label belongs to. */
  index: number;
}

export interface LabelRequest {
  x: number;
  y: number;
  text: string;
}

/**
 * Places `labels` (in priority order) inside `bounds`, avoiding each other and `obstacles`
 * (e.g. markers, the title, grid labels). Returns the placed ones; the rest had no free spot.
 */
export function placeLabels(labels: readonly LabelRequest[], bounds: Box, fontSize: number, obstacles: readonly Box[] = []): PlacedLabel[] {
  const height = Math.ceil(fontSize * 1.25);
  const taken: Box[] = [...obstacles];
  const placed: PlacedLabel[] = [];
  const inside = (b: Box) => b.x >= bounds.x && b.y >= bounds.y && b.x + b.width <= bounds.x + bounds.width && b.y + b.height <= bounds.y + bounds.height;
  labels.forEach((label, index) => {
    const width = estimateTextWidth(label.text, fontSize);
    // Right, left, above, below, then the diagonals, at growing distance from the anchor.
    const candidates: Box[] = [];
    for (const gap of [6, 14, 26, 42]) {
      const right = label.x + gap;
      const left = label.x - gap - width;
      const centreX = label.x - width / 2;
      const middle = label.y - height / 2;
      const above = label.y - gap - height;
      const below = label.y + gap;
      for (const [x, y] of [
        [right, middle],
        [left, middle],
        [centreX, above],
        [centreX, below],
        [right, above],
        [right, below],
        [left, above],
        [left, below],
      ] as const) {
        candidates.push({ x, y, width, height });
      }
    }
    const box = candidates.find((c) => inside(c) && !taken.some((t) => boxesOverlap(c, t)));
    if (!box) return;
    taken.push(box);
    placed.push({ text: label.text, box, index });
  });
  return placed;
}

/** An SVG <text> for a placed label (baseline at about 80 % of the box height). */
export function labelSvg(label: PlacedLabel, fontSize: number, fill: string): string {
  const { x, y, height } = label.box;
  return `<text x="${x.toFixed(1)}" y="${(y + height * 0.8).toFixed(1)}" fill="${fill}" font-size="${fontSize}" font-family="sans-serif">${label.text.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!)}</text>`;
}
