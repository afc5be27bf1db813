//! The project's own `template.yaml` resolves with default parameters.

use std::path::Path;

use local_template::{LoadOptions, PhysicalIds, Template};

#[test]
fn the_project_template_resolves() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    let template = Template::from_file(&path).expect("template.yaml parses");
    let model = template
        .resolve(&LoadOptions::default(), &PhysicalIds::new())
        .expect("template.yaml resolves");
    assert!(!model.functions.is_empty());
    for function in &model.functions {
        assert!(!function.binary.is_empty(), "{}", function.logical_id);
    }
    for api in &model.http_apis {
        for route in &api.routes {
            assert!(
                model.function(&route.function).is_some(),
                "route {} of {} names no function",
                route.route_key,
                api.logical_id
            );
        }
    }
}
