use std::process::Command;

fn run(user: &str) {
    let query = format!("SELECT * FROM logs WHERE user = '{}'", user);
    Command::new("sh").arg("-c").arg(user).output().unwrap();
    println!("{}", query);
}

fn main() {
    let secret = "topsecretvalue";
    run(secret);
}
