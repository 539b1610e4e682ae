"""Back office for merchants, terminals, payments, appeals and settlement (PAY-4, PAY-5)."""
