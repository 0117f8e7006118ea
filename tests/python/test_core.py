"""Binding smoke tests: the generated `shian` module over the real libshian_ffi.

Run with scripts/test-python.sh (it generates the module and sets PYTHONPATH and
SHIAN_EXPECTED_VERSION).
"""

import os
import unittest

import shian


class CoreVersionTest(unittest.TestCase):
    def test_core_version_is_the_workspace_version(self):
        expected = os.environ.get("SHIAN_EXPECTED_VERSION")
        self.assertTrue(expected, "SHIAN_EXPECTED_VERSION is not set")
        self.assertEqual(shian.core_version(), expected)


class TypedErrorTest(unittest.TestCase):
    def test_nonblank_value_passes(self):
        self.assertIsNone(shian.validate_nonempty("product.name", "鲜猪肉"))

    def test_blank_value_raises_validation_with_field(self):
        with self.assertRaises(shian.ShianError.Validation) as ctx:
            shian.validate_nonempty("product.name", "  ")
        err = ctx.exception
        self.assertEqual(err.code, "required")
        self.assertEqual(err.field, "product.name")
        self.assertIn("product.name", err.message)

    def test_variants_are_subclasses_of_shian_error(self):
        self.assertTrue(issubclass(shian.ShianError, Exception))
        for variant in ("Validation", "Auth", "Forbidden", "Network", "Conflict", "Storage", "NotFound"):
            self.assertTrue(issubclass(getattr(shian.ShianError, variant), shian.ShianError), variant)
        with self.assertRaises(shian.ShianError):
            shian.validate_nonempty("buyer.name", "")


if __name__ == "__main__":
    unittest.main()
