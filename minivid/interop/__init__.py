"""Interoperability with the diffusers checkpoint layout: state-dict converters in both directions."""
