"""Clinical text normalisation before synthesis (numbers, doses, units, times, abbreviations, drug names)."""
