"""Everything that produces estimates: trained, released, baseline, external and exported systems."""
