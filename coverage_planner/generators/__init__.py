"""Generators of synthetic regions in real formats (OSM XML, GeoTIFF, GeoJSON, CSV): the embedded demo
district and, for scale tests, larger regions built from the same pieces. Not imported by the
coverage check itself."""
