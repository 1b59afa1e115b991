"""The sha256 of every instance config each profile shipped before the current one (`git log -p --
datafactory_assets/instance/`). A DAGSTER_HOME/dagster.yaml equal to one of them byte for byte was written by
`datafactory up` and never edited, so starting the platform brings it up to the current template (profiles.py); one
the operator edited is kept as it is. When a template changes, add the hash of the version it replaces.
"""

EARLIER_TEMPLATES: dict[str, frozenset[str]] = {
    "embedded": frozenset({
        "35d75ec47c12a4cba7f97124840bf4a1fa64fdf37be13c7bbda659a8549b82e6",
        "3e38ee68f63291844869b6a0c90c34a71c6069a24563321b9024883582134d06",
        "4cbcb5a2aa16357cb92d0cede6da5ff17018bf60f6f3f0dc42e4fc67a2ffc6bd",
        "51d63a9fc5a9a00cb51ed031e3269b21a2e30e860d0060f889c4f9ee251841dd",
        "5fa9bf739870a870ade4896305c33747dd1efada64c094210e16fc3aa17f62fc",
        "63786b0025a2a499f64944a86192ce2117e8204c4edd31542fa1129ed4cd1fc0",
        "686781319b9602f8a1dc96cb312bce1beb75d86bd8e691793747b202bdf4272b",
        "8050dd56daf73a20a7775812eefbb1c3cf336b4a7c1d6d26ea5c47bbca3826e5",
        "8fad85d12b4fb21ac404744bd705bff09555638f9ba41c540d4ca8dd7b407f0f",
        "97267406dc46931f4c54326da4d93001fa682c1c11f5a6943f1fb9071e6a7b6e",
        "b80e56ad209ab294c05e83c75c6115e113951f2fb14cec66abcca0972c3a8a00",
        "879bdc07572039d4d3a2f118e57d543ecc1ff1316e87068681db769b0c2a440b",
        "d9e7efca7f52d90811eb8221c0aae37f830f955b9d5c5a9c81b8903f315a3863",
    }),
    "production": frozenset({
        "188e1e02be059372d27a6eea9a1eb2027047d99a50b83e22d24cc038039f360a",
        "1f37f9ca46a4b7ac8a342074af205931866e94e907bbf9846c653b2827ff314c",
        "3826fb3370e43d31cfdf959ea2862453ae2b552ef8ff9214e502b5ab4a062579",
        "45b27ac61ea56feb2a64c49b4776f40fec396ba83a5e29587dea48af747af7fa",
        "6d504b2617fdf71550151628367428e9f00987f4849e9189c08779ab935eaf79",
        "95e6e47723d743e1d9d4b45a198546df64ae0645c2b86f46b472f33598d9e927",
        "9bdf684ecbc64ef0fe779a39648d1250c07b07872a0271fb1d71651c28dcf7c7",
        "b562b47233add1fe2927e21a7634b93c6f3799db25b4ac5e158818fec33ad0e6",
        "ce70ef8ee3bac0d9970140e837dc6b976aaa33ea27a7b813d0ef2e9a54b58a0c",
        "f2e5944b22a56a2ef22faf10f92db8d513f13a0197874817f739dd580502fe28",
    }),
}
