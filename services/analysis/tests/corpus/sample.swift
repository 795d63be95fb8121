import Foundation

let apiKey = "abcd1234efgh5678"

func query(name: String) -> String {
    return "SELECT * FROM users WHERE name = '\(name)'"
}
