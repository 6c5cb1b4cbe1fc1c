"""Images made by gradient ascent: fooling images reach their class with a small change, class
visualisations raise their class's score and, on the patch task, draw the patch."""

import numpy as np
import pytest

from volnet.explain import class_visualisation, fooling_image
from volnet.explain.class_model import gaussian_blur
from volnet.explain.fooling import change_in_pixels, magnification

from .conftest import PATCH_CORNERS, patch_mask


def test_fooling_images_are_classified_as_their_target_after_a_small_change(patch_task):
    model, images, labels = patch_task
    for image, label in zip(images[:4], labels[:4]):
        for target in set(range(len(PATCH_CORNERS))) - {int(label)}:
            fooled = fooling_image(model, image, target, lr=0.1, steps=300, bounds=(-3.0, 3.0))
            assert fooled.fooled and int(model.forward(fooled.image[None]).argmax()) == target
            np.testing.assert_allclose(fooled.change, fooled.image - image)
            assert fooled.image.min() >= -3.0 and fooled.image.max() <= 3.0
            # each step is 0.1 long, so the change is at most 0.1·steps; and it is small: well under the
            # distance to the nearest real image of the target class (measured: 0.33–0.56 of it)
            change = np.linalg.norm(fooled.change)
            assert change <= 0.1 * fooled.steps + 1e-9
            nearest = np.linalg.norm((images[labels == target] - image).reshape(-1, 144), axis=1).min()
            assert change < 0.75 * nearest
            # the first image classified as the target is kept: one step less would not have been enough
            assert fooled.after[target] == fooled.after.max() and fooled.before[label] == fooled.before.max()


def test_fooling_refuses_the_class_already_predicted_and_reports_pixel_sizes(patch_task):
    model, images, labels = patch_task
    with pytest.raises(ValueError, match=r"already predicts class 1 \(\d+%\) for this image; choose another class"):
        fooling_image(model, images[labels == 1][0], 1)
    fooled = fooling_image(model, images[0], (int(labels[0]) + 1) % 4)
    from volnet.data import Normalization

    l2, largest = change_in_pixels(fooled, Normalization([0.5], [0.25]))
    assert abs(l2 - np.linalg.norm(fooled.change) * 0.25 * 255) < 1e-6
    assert abs(largest - np.abs(fooled.change).max() * 0.25 * 255) < 1e-6
    assert magnification(np.array([0.0, 1.0, -2.0])) == 50 and magnification(np.full(3, 127.0)) == 1


def test_class_visualisation_raises_the_score_and_draws_the_patch_of_its_class(patch_task):
    model, _, _ = patch_task
    blank = model.forward(np.zeros((1, 1, 12, 12)))[0]
    for target in range(len(PATCH_CORNERS)):
        image = class_visualisation(model, target, steps=60, bounds=(-3.0, 3.0))
        scores = model.forward(image[None])[0]
        assert scores[target] > blank[target] + 10 and int(scores.argmax()) == target
        # the brightest of the four places the patch can be is the class's own
        brightness = [image[0][patch_mask(k)].mean() for k in range(len(PATCH_CORNERS))]
        assert int(np.argmax(brightness)) == target


def test_class_visualisation_is_seeded_and_checks_its_settings(patch_task):
    model, _, _ = patch_task
    first = class_visualisation(model, 2, steps=5, seed=3)
    np.testing.assert_array_equal(first, class_visualisation(model, 2, steps=5, seed=3))
    with pytest.raises(ValueError, match=r"steps ≥ 1, lr > 0.*got steps=0, lr=2.0"):
        class_visualisation(model, 2, steps=0)
    with pytest.raises(ValueError, match="class 4 does not exist"):
        class_visualisation(model, 4)


def test_gaussian_blur_keeps_the_mean_of_a_constant_and_spreads_a_point_symmetrically():
    np.testing.assert_allclose(gaussian_blur(np.full((2, 6, 7), 3.0), 0.5), 3.0)
    point = np.zeros((1, 9, 9)); point[0, 4, 4] = 1
    blurred = gaussian_blur(point, 1.0)
    assert abs(blurred.sum() - 1) < 1e-12 and blurred[0, 4, 4] == blurred.max()
    np.testing.assert_allclose(blurred[0], blurred[0].T)
    np.testing.assert_allclose(blurred[0], blurred[0, ::-1])
