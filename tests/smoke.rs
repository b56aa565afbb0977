mod common;
use common::*;
use pekonode::Protocol;

#[test]
fn two_converge() {
    let nodes = cluster(2, config(Protocol::Udp));
    let ids = ids(&nodes);
    let refs: Vec<&pekonode::Node> = nodes.iter().collect();
    let t = wait_for(GENEROUS, || all_list(&refs, &ids));
    println!("{t:?} {:?}", nodes[0].members());
    assert!(t.is_some());
}
