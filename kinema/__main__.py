"""`python -m kinema …` (what `torchrun … -m kinema train …` runs)."""
from kinema.cli import main

main()
