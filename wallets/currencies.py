"""ISO 4217 currencies the wallet knows, with their exponents (decimal places of the minor unit)."""

EXPONENTS: dict[str, int] = {
    # two decimals
    **dict.fromkeys(
        "AED ARS AUD BAM BGN BRL BYN CAD CHF CNY COP CZK DKK EGP EUR GBP GEL GHS HKD HUF IDR ILS "
        "INR KES KZT MAD MDL MKD MXN MYR NGN NOK NZD PEN PHP PKR PLN QAR RON RSD RUB SAR SEK SGD "
        "THB TRY TWD UAH USD UYU ZAR".split(),
        2,
    ),
    # no minor unit
    **dict.fromkeys("CLP ISK JPY KRW PYG UGX VND XAF XOF".split(), 0),
    # three decimals
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}

CURRENCY_CHOICES = sorted((code, code) for code in EXPONENTS)


def exponent(currency: str) -> int:
    """Decimal places of `currency`; KeyError for a currency the wallet does not know."""
    return EXPONENTS[currency]


def is_known(currency: object) -> bool:
    return isinstance(currency, str) and currency in EXPONENTS
