/* Unit tests of geo/: one X(name) per TEST(name). */
#define GEO_TESTS(X)                                                                               \
    X(geo_addr_convert)                                                                            \
    X(geo_addr_parse_text)                                                                         \
    X(geo_db_open_errors)                                                                          \
    X(geo_db_schema_check)                                                                         \
    X(geo_db_fixture_city)                                                                         \
    X(geo_db_lookup_inputs)                                                                        \
    X(geo_db_custom_schema)                                                                        \
    X(geo_db_merge_asn)                                                                            \
    X(geo_db_flat)                                                                                 \
    X(geo_db_refcount_threads)                                                                     \
    X(geo_db_maxmind_readme)                                                                       \
    X(geo_db_real_world_npm)                                                                       \
    X(geo_db_cache)                                                                                \
    X(geo_zone_and_or)                                                                             \
    X(geo_zone_first_match_and_default)                                                            \
    X(geo_zone_cidr_v4)                                                                            \
    X(geo_zone_cidr_v6)                                                                            \
    X(geo_zone_case_and_duplicates)                                                                \
    X(geo_zone_compile_errors)                                                                     \
    X(geo_zone_cidr_reference)                                                                     \
    X(geo_zone_with_fixture)
