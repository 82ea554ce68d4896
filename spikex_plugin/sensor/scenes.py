"""Rendered intensity videos for the emulated event tasks (deterministic by seed).

- `saccade_video`: a still image seen by a sensor that moves through N-MNIST's three
  saccades (Orchard et al. 2015: the ATIS camera moved along an isosceles triangle, 100 ms
  per saccade, in front of an LCD showing the MNIST digit).
- `gesture_video`: a person silhouette (head, torso, legs, two two-segment arms, hands) in
  front of a still textured background, moving the arms through one of the 11 DVS-Gesture
  classes (Amir et al. 2017). Arm directions: "right"/"left" are the subject's own (the
  subject faces the camera, so their right arm is on the image's left); "clockwise" is as
  seen by the camera.
"""

from __future__ import annotations

import numpy as np
from numba import njit

GESTURES = ("hand clap", "right hand wave", "left hand wave", "right arm clockwise",
            "right arm counter-clockwise", "left arm clockwise", "left arm counter-clockwise",
            "arm roll", "air drums", "air guitar", "other")

# N-MNIST saccade triangle (pixels at 34x34; x right, y down): three straight legs, each with
# a smooth (raised-cosine) velocity profile, back to the start.
SACCADE_VERTICES = np.array([[0.0, 0.0], [3.0, 5.0], [6.0, 0.0], [0.0, 0.0]])


def saccade_offsets(frames: int, scale: float = 1.0) -> np.ndarray:
    """Sensor displacement [frames, 2] (x, y) along the three saccades over the clip."""
    s = np.linspace(0.0, 3.0, frames)
    leg = np.minimum(s.astype(int), 2)
    progress = 0.5 - 0.5 * np.cos(np.pi * (s - leg))
    a, b = SACCADE_VERTICES[leg], SACCADE_VERTICES[leg + 1]
    return scale * (a + (b - a) * progress[:, None])


def shift_bilinear(image: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Frames [F, H, W] of `image` [H, W] translated by offsets [F, 2] (x, y; sub-pixel,
    bilinear; outside the image reads 0)."""
    H, W = image.shape
    padded = np.pad(image, 1)
    ys, xs = np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64)
    sy = ys[None, :] - offsets[:, 1:2] + 1        # [F, H] source row in the padded image
    sx = xs[None, :] - offsets[:, 0:1] + 1        # [F, W]
    sy, sx = np.clip(sy, 0, H + 0.999), np.clip(sx, 0, W + 0.999)
    y0, x0 = sy.astype(int), sx.astype(int)
    fy, fx = (sy - y0)[:, :, None], (sx - x0)[:, None, :]
    y1, x1 = np.minimum(y0 + 1, H + 1), np.minimum(x0 + 1, W + 1)
    rows0, rows1 = padded[y0], padded[y1]                         # [F, H, W + 2]
    take = np.take_along_axis
    top = take(rows0, x0[:, None, :].repeat(H, 1), 2) * (1 - fx) + take(rows0, x1[:, None, :].repeat(H, 1), 2) * fx
    bottom = take(rows1, x0[:, None, :].repeat(H, 1), 2) * (1 - fx) + take(rows1, x1[:, None, :].repeat(H, 1), 2) * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def saccade_video(image: np.ndarray, size: int, frames: int, background: float = 0.1,
                  foreground: float = 0.9) -> np.ndarray:
    """Video [frames, size, size] of `image` (values in [0, 1], smaller than size) centred
    with room for the saccades, drawn as background + image * (foreground - background)."""
    h, w = image.shape
    canvas = np.zeros((size, size), dtype=np.float32)
    top, left = (size - h - 5) // 2, (size - w - 6) // 2
    canvas[top:top + h, left:left + w] = image
    moved = shift_bilinear(canvas, saccade_offsets(frames, 1.0))
    return background + moved * (foreground - background)


# --------------------------------------------------------------------------------------
# Gestures
# --------------------------------------------------------------------------------------

def _direction(beta: np.ndarray) -> np.ndarray:
    """Unit vectors (x, y) with y down: beta = 0 points down, pi/2 image-right, pi up."""
    return np.stack([np.sin(beta), np.cos(beta)], axis=-1)


def _arm_angles(gesture: int, side: int, phi: np.ndarray, rng: np.random.Generator, t: np.ndarray):
    """Absolute (upper arm, forearm) angles [F] of the arm on image side `side` (-1 left =
    the subject's right arm, +1 right) as `_direction` angles; None when the gesture places
    the hand directly (see `_hand_override`)."""
    F = phi.size
    rest = (np.full(F, side * 0.15), np.full(F, side * 0.1))
    subject_right = side < 0
    if gesture == 0:                                      # clap: forearms swing in and meet
        return np.full(F, side * 0.35), side * (-0.75 - 0.6 * (0.5 + 0.5 * np.cos(phi)))
    if gesture in (1, 2):                                 # wave: forearm up, swinging
        if subject_right != (gesture == 1):
            return rest
        return np.full(F, side * 1.2), side * (np.pi - 0.15 + 0.45 * np.sin(phi))
    if gesture in (3, 4, 5, 6):                           # whole straight arm circles the shoulder
        if subject_right != (gesture in (3, 4)):
            return rest
        clockwise = gesture in (3, 5)
        beta = side * 0.3 + (-phi if clockwise else phi)
        return beta, beta
    if gesture == 10:                                     # other: smooth random arm motion
        f = rng.uniform(0.3, 1.2, 2)
        p = rng.uniform(0, 2 * np.pi, 2)
        upper = side * (rng.uniform(0.2, 1.2) + rng.uniform(0.2, 0.8) * np.sin(2 * np.pi * f[0] * t + p[0]))
        fore = upper + side * (rng.uniform(-0.5, 1.5) + rng.uniform(0.2, 1.0) * np.sin(2 * np.pi * f[1] * t + p[1]))
        return upper, fore
    return np.full(F, side * (0.9 if gesture == 9 and not subject_right else 0.3)), None


def _hand_override(gesture: int, side: int, phi: np.ndarray, elbow: np.ndarray, chest: np.ndarray,
                   s: float) -> np.ndarray:
    """Hand positions [F, 2] for gestures drawn from hand paths (roll, drums, guitar)."""
    F = phi.size
    if gesture == 7:                                      # arm roll: hands circle each other
        a = phi + (np.pi if side > 0 else 0.0)
        return chest + 7 * s * np.stack([np.cos(a), np.sin(a)], axis=-1)
    if gesture == 8:                                      # air drums: alternating strokes
        a = phi + (np.pi if side > 0 else 0.0)
        return elbow + s * np.stack([np.full(F, -side * 7.0), -6 + 9 * np.sin(a)], axis=-1)
    if side > 0:                                          # air guitar: left hand slides on the neck
        d = _direction(side * (1.45 + 0.08 * np.sin(0.5 * phi)))
        return elbow + 20 * s * d
    return elbow + s * np.stack([np.full(F, 12.0), 4 + 7 * np.sin(2 * phi)], axis=-1)  # strumming


def gesture_primitives(gesture: int, frames: int, frame_interval_s: float,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Capsules [frames, P, 5] (ax, ay, bx, by, radius) in 128-pixel units and their
    intensities [P], drawn in order (later on top), for one randomised performance."""
    t = np.arange(frames) * frame_interval_s
    freq = rng.uniform(1.5, 2.5) if gesture == 7 else rng.uniform(0.8, 1.5)
    phi = 2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)
    s = rng.uniform(0.9, 1.1)
    x0 = 64 + rng.uniform(-8, 8) + 1.0 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6.3))   # slight sway
    y_sh = 54 + rng.uniform(-6, 6)
    F = frames
    const = lambda v: np.full(F, v, dtype=np.float64)  # noqa: E731
    caps = [  # torso, legs, head
        (x0, const(y_sh - 4 * s), x0, const(y_sh + 40 * s), 11 * s),
        (x0 - 5 * s, const(y_sh + 40 * s), x0 - 8 * s, const(y_sh + 85 * s), 5 * s),
        (x0 + 5 * s, const(y_sh + 40 * s), x0 + 8 * s, const(y_sh + 85 * s), 5 * s),
        (x0, const(y_sh - 17 * s), x0, const(y_sh - 17 * s), 8 * s),
    ]
    chest = np.stack([x0, const(y_sh + 14 * s)], axis=-1)
    for side in (-1, 1):
        shoulder = np.stack([x0 + side * 12 * s, const(y_sh)], axis=-1)
        upper, fore = _arm_angles(gesture, side, phi, rng, t)
        elbow = shoulder + 22 * s * _direction(upper)
        hand = elbow + 20 * s * _direction(fore) if fore is not None \
            else _hand_override(gesture, side, phi, elbow, chest, s)
        caps += [(shoulder[:, 0], shoulder[:, 1], elbow[:, 0], elbow[:, 1], 4.5 * s),
                 (elbow[:, 0], elbow[:, 1], hand[:, 0], hand[:, 1], 3.5 * s),
                 (hand[:, 0], hand[:, 1], hand[:, 0], hand[:, 1], 4.5 * s)]
    prims = np.stack([np.stack([np.broadcast_to(np.asarray(v, dtype=np.float64), (F,)) for v in c], -1)
                      for c in caps], axis=1)
    dark = rng.random() < 0.5                            # dark clothes on a brighter wall, or the reverse
    cloth = rng.uniform(0.04, 0.12) if dark else rng.uniform(0.7, 0.95)
    skin = rng.uniform(0.35, 0.6)
    shades = np.array([cloth, cloth, cloth, skin] + [cloth, skin, skin] * 2)
    return prims, shades


def textured_background(size: int, rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """A still, smooth random texture with values in [low, high]."""
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size))
    for _ in range(6):
        kx, ky = rng.uniform(-6, 6, 2)
        img += rng.uniform(0.3, 1.0) * np.cos(2 * np.pi * (kx * x + ky * y) + rng.uniform(0, 6.3))
    img = (img - img.min()) / max(np.ptp(img), 1e-9)
    return (low + (high - low) * img).astype(np.float32)


def gesture_video(gesture: int, size: int, frames: int, frame_interval_s: float, seed: int) -> np.ndarray:
    """Intensity video [frames, size, size] (values in [0, 1]) of one gesture performance."""
    if not 0 <= gesture < len(GESTURES):
        raise ValueError(f"gesture {gesture} is not one of 0..{len(GESTURES) - 1}")
    rng = np.random.default_rng(seed)
    prims, shades = gesture_primitives(gesture, frames, frame_interval_s, rng)
    bright_wall = shades[0] < 0.3
    bg = textured_background(size, rng, *((0.4, 0.7) if bright_wall else (0.15, 0.4)))
    scale = size / 128.0
    prims = prims.copy()
    prims *= scale
    return _render(bg, prims.astype(np.float32), shades.astype(np.float32))


@njit(cache=True, nogil=True)
def _render(background, prims, shades):
    F, P, _ = prims.shape
    H, W = background.shape
    out = np.empty((F, H, W), dtype=np.float32)
    for f in range(F):
        out[f] = background
        for p in range(P):
            ax, ay, bx, by, r = prims[f, p, 0], prims[f, p, 1], prims[f, p, 2], prims[f, p, 3], prims[f, p, 4]
            dx, dy = bx - ax, by - ay
            len2 = dx * dx + dy * dy
            x_lo, x_hi = max(int(min(ax, bx) - r - 1), 0), min(int(max(ax, bx) + r + 2), W)
            y_lo, y_hi = max(int(min(ay, by) - r - 1), 0), min(int(max(ay, by) + r + 2), H)
            for yy in range(y_lo, y_hi):
                py = yy + 0.5
                for xx in range(x_lo, x_hi):
                    px = xx + 0.5
                    u = 0.0 if len2 == 0 else min(max(((px - ax) * dx + (py - ay) * dy) / len2, 0.0), 1.0)
                    ex, ey = px - ax - u * dx, py - ay - u * dy
                    cover = min(max(r + 0.5 - np.sqrt(ex * ex + ey * ey), 0.0), 1.0)   # anti-aliased edge
                    if cover > 0:
                        out[f, yy, xx] += cover * (shades[p] - out[f, yy, xx])
    return out
