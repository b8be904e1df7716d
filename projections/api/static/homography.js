// Plane geometry of the editor, pure functions: which way a counting line counts IN, and the homography from
// normalised image coordinates to metres on the ground (the same mapping as streams/analytics/geometry.py).

/**
 * The unit vector (in the drawing's pixel space, y down) a vehicle moves along when it crosses `line` IN.
 * LEFT_TO_RIGHT: from the left of the directed segment (x1,y1)->(x2,y2) to its right; for a segment drawn left to
 * right the left side is above it, so IN points down.
 */
export function inDirection(line, w, h) {
  const dx = (line.x2 - line.x1) * w;
  const dy = (line.y2 - line.y1) * h;
  const n = Math.hypot(dx, dy) || 1;
  const s = line.in_direction === "RIGHT_TO_LEFT" ? -1 : 1;
  return { x: (s * -dy) / n, y: (s * dx) / n };
}

/** Twice the signed area of the triangle abc. */
function area2(a, b, c) {
  return (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
}

/**
 * The indices of three points that lie on one line, or null. "On one line" allows for where a pointer lands: a point
 * nearer than 1% of the points' spread to the line through two others counts (its homography would be useless).
 */
export function hasCollinearTriple(points) {
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const spread = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)) || 1;
  const tri = [];
  for (let i = 0; i < points.length; i++)
    for (let j = i + 1; j < points.length; j++) for (let k = j + 1; k < points.length; k++) tri.push([i, j, k]);
  for (const t of tri) {
    const [a, b, c] = t.map((i) => points[i]);
    const longest = Math.max(
      Math.hypot(b.x - a.x, b.y - a.y),
      Math.hypot(c.x - a.x, c.y - a.y),
      Math.hypot(c.x - b.x, c.y - b.y),
    );
    // the triangle's height over its longest side
    if (!longest || Math.abs(area2(a, b, c)) / longest < 0.01 * spread) return t;
  }
  return null;
}

/** x of A x = b (n x n, Gaussian elimination with partial pivoting); null when A is singular. */
export function solve(A, b) {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    if (Math.abs(M[p][c]) < 1e-12) return null;
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  const x = new Array(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r][n];
    for (let k = r + 1; k < n; k++) s -= M[r][k] * x[k];
    x[r] = s / M[r][r];
  }
  return x;
}

/**
 * The 3x3 homography (row-major, h33 = 1) mapping the 4 `src` points onto the 4 `dst` points (4-point DLT: the
 * 8x8 linear system). Throws an Error naming the problem when the points give none.
 */
export function homography(src, dst) {
  if (src.length !== 4 || dst.length !== 4) throw new Error("a homography needs exactly 4 image and 4 ground points");
  for (const [what, pts] of [
    ["image", src],
    ["ground", dst],
  ]) {
    if (pts.some((p) => !Number.isFinite(p.x) || !Number.isFinite(p.y)))
      throw new Error(`every ${what} point needs a number for x and y`);
    const bad = hasCollinearTriple(pts);
    if (bad)
      throw new Error(
        `${what} points ${bad.map((i) => i + 1).join(", ")} lie on one line: no three of the four may; ` +
          "pick the corners of a rectangle (or any quadrilateral) on the road",
      );
  }
  // Hartley normalisation: each set centred on its centroid and scaled to a mean distance of sqrt(2), so the
  // system is well conditioned and h33 = 1 holds (the centroid, inside the quad, maps to a finite point).
  const [Ts, Td] = [normaliser(src), normaliser(dst)];
  const s = src.map((p) => apply(Ts, p));
  const d = dst.map((p) => apply(Td, p));
  const A = [];
  const b = [];
  for (let i = 0; i < 4; i++) {
    const { x, y } = s[i];
    const { x: X, y: Y } = d[i];
    A.push([x, y, 1, 0, 0, 0, -X * x, -X * y]);
    b.push(X);
    A.push([0, 0, 0, x, y, 1, -Y * x, -Y * y]);
    b.push(Y);
  }
  const h = solve(A, b);
  if (!h || h.some((v) => !Number.isFinite(v))) throw new Error("these points give no usable homography");
  const H = mul(inverseSimilarity(Td), mul([...h, 1], Ts));
  const k = Math.abs(H[8]) > 1e-12 ? H[8] : 1;
  return H.map((v) => v / k);
}

function normaliser(pts) {
  const cx = pts.reduce((a, p) => a + p.x, 0) / pts.length;
  const cy = pts.reduce((a, p) => a + p.y, 0) / pts.length;
  const mean = pts.reduce((a, p) => a + Math.hypot(p.x - cx, p.y - cy), 0) / pts.length || 1;
  const k = Math.SQRT2 / mean;
  return [k, 0, -k * cx, 0, k, -k * cy, 0, 0, 1];
}

function inverseSimilarity(T) {
  const k = T[0];
  return [1 / k, 0, -T[2] / k, 0, 1 / k, -T[5] / k, 0, 0, 1];
}

function mul(A, B) {
  const C = new Array(9).fill(0);
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) C[3 * r + c] += A[3 * r + k] * B[3 * k + c];
  return C;
}

export function apply(H, p) {
  const w = H[6] * p.x + H[7] * p.y + H[8];
  return { x: (H[0] * p.x + H[1] * p.y + H[2]) / w, y: (H[3] * p.x + H[4] * p.y + H[5]) / w };
}

/** Metres per pixel at normalised image point `p` of a `w` x `h` frame: the mean ground length of a pixel's
 * horizontal and vertical step there. */
export function metresPerPixel(H, p, w, h) {
  const o = apply(H, p);
  const ex = apply(H, { x: p.x + 1 / w, y: p.y });
  const ey = apply(H, { x: p.x, y: p.y + 1 / h });
  return (Math.hypot(ex.x - o.x, ex.y - o.y) + Math.hypot(ey.x - o.x, ey.y - o.y)) / 2;
}

/** Where to preview the scale: the quad's centre, and the midpoints of its nearest (lowest on the image) and
 * farthest (highest) edges. */
export function previewPoints(quad) {
  const centre = { x: quad.reduce((s, p) => s + p.x, 0) / 4, y: quad.reduce((s, p) => s + p.y, 0) / 4 };
  const mids = quad.map((p, i) => {
    const q = quad[(i + 1) % 4];
    return { x: (p.x + q.x) / 2, y: (p.y + q.y) / 2 };
  });
  const near = mids.reduce((a, m) => (m.y > a.y ? m : a));
  const far = mids.reduce((a, m) => (m.y < a.y ? m : a));
  return { centre, near, far };
}

/** Whether point `p` lies inside polygon `pts` (even-odd rule). */
export function insidePolygon(p, pts) {
  let inside = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const a = pts[i];
    const b = pts[j];
    if (a.y > p.y !== b.y > p.y && p.x < ((b.x - a.x) * (p.y - a.y)) / (b.y - a.y) + a.x) inside = !inside;
  }
  return inside;
}

/** Distance from `p` to segment ab. */
export function segmentDistance(p, a, b) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len2 = dx * dx + dy * dy || 1;
  const t = Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2));
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}
