"""Burst registration: luminance pyramids, sharpness, coarse-to-fine alignment of a frame to
the reference (phase correlation, then ECC level by level), warping into the reference
geometry and the crop valid in every warped frame. Steps 1-2 of `data/bursts.py`'s recipe."""

from __future__ import annotations

import cv2
import numpy as np

COARSEST_SIDE = 512
_ECC_COARSE = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-5)
_ECC_FINE = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-5)


class SceneRejected(Exception):
    """The whole scene is unusable; the message says why."""


class AlignmentFailed(Exception):
    """One frame could not be registered to the reference."""


def gray(frame: np.ndarray) -> np.ndarray:
    scale = 65535.0 if frame.dtype == np.uint16 else 255.0
    return cv2.cvtColor(frame.astype(np.float32) / scale, cv2.COLOR_RGB2GRAY)


def pyramid(luma: np.ndarray) -> list[np.ndarray]:
    """Finest first; always at least two levels (sharpness uses the half-resolution one)."""
    levels = [luma, cv2.pyrDown(luma)]
    while max(levels[-1].shape) > COARSEST_SIDE:
        levels.append(cv2.pyrDown(levels[-1]))
    return levels


def sharpness(levels: list[np.ndarray]) -> float:
    half = levels[1] if len(levels) > 1 else cv2.pyrDown(levels[0])
    return float(cv2.Laplacian(half, cv2.CV_32F, ksize=3).var())


def scene_blur(image: np.ndarray) -> float:
    """`skimage.measure.blur_effect` of the luminance resized to at most COARSEST_SIDE px."""
    from skimage.measure import blur_effect

    luma = gray(image)
    factor = COARSEST_SIDE / max(luma.shape)
    if factor < 1:
        luma = cv2.resize(luma, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return float(blur_effect(luma))


def register(ref_pyramid: list[np.ndarray], pyramid: list[np.ndarray], homography: bool
              ) -> tuple[np.ndarray, float]:
    """3×3 matrix M with frame(M·p) ≈ reference(p), and the final ECC correlation."""
    coarse_ref, coarse = ref_pyramid[-1], pyramid[-1]
    window = cv2.createHanningWindow(coarse.shape[::-1], cv2.CV_32F)
    # copies throughout: OpenCV 5 windows/smooths float32 inputs of these calls in place
    (dx, dy), _ = cv2.phaseCorrelate(coarse_ref.copy(), coarse.copy(), window)
    matrix = np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float64)
    motion = cv2.MOTION_HOMOGRAPHY if homography else cv2.MOTION_EUCLIDEAN
    up = np.diag([2.0, 2.0, 1.0])
    correlation = 0.0
    for level in range(len(pyramid) - 1, -1, -1):
        if level < len(pyramid) - 1:
            matrix = up @ matrix @ np.linalg.inv(up)
        criteria = _ECC_FINE if level == 0 else _ECC_COARSE
        warp = matrix.astype(np.float32) if homography else matrix[:2].astype(np.float32)
        try:
            correlation, warp = cv2.findTransformECC(ref_pyramid[level].copy(),
                                                     pyramid[level].copy(), warp, motion,
                                                     criteria, None, 5)
        except cv2.error:
            raise AlignmentFailed("ECC did not converge (images unrelated or not overlapping)"
                                   ) from None
        matrix = warp.astype(np.float64) if homography else np.vstack([warp, [0, 0, 1]])
    return matrix, float(correlation)




def warp(frame: np.ndarray, matrix: np.ndarray, scale: int) -> np.ndarray:
    h, w = frame.shape[:2]
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    source = frame.astype(np.float32)
    if np.allclose(matrix, np.eye(3)):
        warped = source
    elif np.allclose(matrix[2], (0, 0, 1)):
        warped = cv2.warpAffine(source, matrix[:2], (w, h), flags=flags)
    else:
        warped = cv2.warpPerspective(source, matrix, (w, h), flags=flags)
    warped = warped * np.float32(scale)  # a new array: `source` may be the caller's frame
    return np.clip(np.rint(warped, out=warped), 0, 65535, out=warped).astype(np.uint16)


def common_crop(matrices: list[np.ndarray], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Largest axis-aligned box valid in every warped frame (2 px kept clear for bicubic)."""
    h, w = shape
    valid = np.ones((h, w), bool)
    ones = np.ones((h, w), np.uint8)
    for matrix in matrices:
        if np.allclose(matrix, np.eye(3)):
            continue
        inside = cv2.warpPerspective(ones, matrix, (w, h), flags=cv2.INTER_NEAREST
                                     | cv2.WARP_INVERSE_MAP, borderValue=0)
        valid &= cv2.erode(inside, np.ones((5, 5), np.uint8)) > 0
    top, bottom, left, right = 0, h, 0, w
    while top < bottom and left < right:
        edges = [~valid[top, left:right], ~valid[bottom - 1, left:right],
                 ~valid[top:bottom, left], ~valid[top:bottom, right - 1]]
        bad = [int(e.sum()) for e in edges]
        if max(bad) == 0 and valid[top:bottom, left:right].all():
            break
        worst = int(np.argmax(bad))
        top, bottom = top + (worst == 0), bottom - (worst == 1)
        left, right = left + (worst == 2), right - (worst == 3)
    if bottom - top < h // 2 or right - left < w // 2:
        raise SceneRejected(f"the frames overlap too little: common area {right - left}x"
                             f"{bottom - top} of {w}x{h}")
    return top, left, bottom - top, right - left
