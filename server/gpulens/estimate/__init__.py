"""Numbers from facts (pure): iteration counts now; memory estimates later."""
